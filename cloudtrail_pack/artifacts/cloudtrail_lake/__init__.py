"""AWS CloudTrail Lake release artifacts: one SQL file per rule (dist/cloudtrail_lake/queries/<rule>.sql), from the
SQL targets' shared template (artifacts/templates/query.sql.j2).

StartQuery takes the SQL text itself, so each file carries three placeholders, substituted before it is sent
(docs/athena.md shows `envsubst`): ${EVENT_DATA_STORE_ID}, ${START_TIME} and ${END_TIME}.
"""

from __future__ import annotations

from pathlib import Path

from ...release.context import Release
from ..common import distinct_slugs, put, single_queries, sql_query_file

TARGET = "cloudtrail_lake"
NEEDS = ((TARGET, "default"),)
TIME_RANGE = (
    "replace ${EVENT_DATA_STORE_ID} (the event data store's id, the last part of its ARN), ${START_TIME} and "
    "${END_TIME} ('yyyy-MM-dd HH:mm:ss', UTC; the range includes the start and excludes the end)"
)


def write(release: Release, out: Path) -> None:
    detections = single_queries(release, TARGET)
    slugs = distinct_slugs([rule for rule, _ in detections])
    for rule, query in detections:
        put(out / "queries" / f"{slugs[rule.id]}.sql", sql_query_file(rule, query, release.version, [TIME_RANGE]))
