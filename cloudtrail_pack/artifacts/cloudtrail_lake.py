"""AWS CloudTrail Lake release artifacts: one SQL file per rule (dist/cloudtrail_lake/queries/<rule>.sql).

StartQuery takes the SQL text itself, so each file carries three placeholders, substituted before it is sent
(docs/athena.md shows `envsubst`): ${EVENT_DATA_STORE_ID}, ${START_TIME} and ${END_TIME}.
"""

from __future__ import annotations

from pathlib import Path

from ..release.context import as_release
from .athena import _put, header, queries

TARGET = "cloudtrail_lake"
NEEDS = ((TARGET, "default"),)
TIME_RANGE = (
    "replace ${EVENT_DATA_STORE_ID} (the event data store's id, the last part of its ARN), ${START_TIME} and "
    "${END_TIME} ('yyyy-MM-dd HH:mm:ss', UTC; the range includes the start and excludes the end)"
)


def write(source, out_dir: Path) -> list[Path]:
    release = as_release(source, NEEDS)
    written: list[Path] = []
    for rule, query in queries(release, TARGET):
        _put(Path(out_dir) / "queries" / f"{rule.slug}.sql", header(rule, release.version, [TIME_RANGE]) + "\n" + query + ";\n", written)
    return written
