"""Amazon Athena release artifacts: one SQL file per rule, the table's DDL, and a CloudFormation template with
an `AWS::Athena::NamedQuery` per rule.

Files written into `out` (the release passes dist/athena/), each from a template in templates/:

    queries/<rule>.sql                          the rule's query: ${ACCOUNT_IDS}, ${START_TIME}, ${END_TIME} to fill in
    ddl/cloudtrail_organization.sql             CREATE EXTERNAL TABLE (AWS's documented columns, organization layout)
    cloudformation/athena-named-queries.cfn.yaml  one saved query per rule (Database and WorkGroup parameters)

A rule the backend refuses is left out with its reason in the template's Metadata (and the build table).
AWS::Athena::NamedQuery properties and limits: Name 1-128, Description 1-1024, QueryString 1-262144 characters
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-athena-namedquery.html).
"""

from __future__ import annotations

from pathlib import Path

from sigma.backends.athena.ddl import PARAMETERS, TABLE, create_table

from ...compilation import Refusal
from ...pack import PACK_NAME, PackError, PackRule, shown
from ...release.context import Release
from ..common import (
    camel, distinct_slugs, dump_yaml, put, render, render_yaml, sentences, single_queries, sql_query_file, whole_sentences,
)

TARGET = "athena"
NEEDS = ((TARGET, "default"),)
TEMPLATE_FILE = "cloudformation/athena-named-queries.cfn.yaml"
DDL_FILE = f"ddl/{TABLE}.sql"
NAME_MAX, DESCRIPTION_MAX, QUERY_MAX = 128, 1024, 262144
#: Whole sentences up to this many characters (NamedQuery allows DESCRIPTION_MAX): the rule's full description is in
#: its .sql file; the console's list of saved queries shows the short one.
DESCRIPTION_SHOWN = 512

TIME_RANGE = (
    "replace ${ACCOUNT_IDS} (the accounts to search, quoted and comma-separated: every account folder of the "
    "bucket, docs/athena.md), ${START_TIME} and ${END_TIME} ('yyyy-MM-dd HH:mm:ss', UTC; the range includes the "
    "start and excludes the end; the day folders read run to the day after the end, as CloudTrail files an event "
    "under the day it delivers it)"
)
#: The NamedQuery's description says it in short (the .sql file's header says it in full).
FILL_IN = "fill in ${ACCOUNT_IDS}, ${START_TIME}, ${END_TIME} (docs/athena.md)"


def template(release: Release, detections: list[tuple[PackRule, str]]) -> dict:
    """The NamedQuery template (templates/named-queries.cfn.yaml.j2), as a document."""
    queries = []
    for rule, query in detections:
        if len(query) > QUERY_MAX:
            raise PackError(shown(rule.source), f"Athena: the query has {len(query)} characters, over NamedQuery's {QUERY_MAX}")
        name = f"{rule.title} ({PACK_NAME})"
        text = f"{rule.level}; Sigma rule {rule.id}; {FILL_IN}. " + " ".join(sentences(rule.rule.description or ""))
        queries.append({
            "logical_id": camel(rule.slug) + "NamedQuery",
            "name": name if len(name) <= NAME_MAX else rule.title[:NAME_MAX],
            "description": whole_sentences(text, DESCRIPTION_SHOWN),
            "query": query,
        })
    refused = [(r, result.reason) for r in release.pack.rules if isinstance(result := release.result(r, TARGET), Refusal)]
    description = (f"{PACK_NAME} {release.version}: Athena saved queries for {len(queries)} Sigma rules on the "
                   f"CloudTrail table {TABLE} ({DDL_FILE}).")
    return render_yaml(__name__, "named-queries.cfn.yaml.j2", description=description, pack=PACK_NAME,
                       version=release.version, table=TABLE, ddl_file=DDL_FILE, refused=refused, queries=queries)


def write(release: Release, out: Path) -> None:
    detections = single_queries(release, TARGET)
    slugs = distinct_slugs([rule for rule, _ in detections])
    for rule, query in detections:
        put(out / "queries" / f"{slugs[rule.id]}.sql", sql_query_file(rule, query, release.version, [TIME_RANGE]))
    put(out / DDL_FILE, render(__name__, "ddl.sql.j2", create_table=create_table(), parameters=PARAMETERS))
    put(out / TEMPLATE_FILE, dump_yaml(template(release, detections)))
