"""Amazon Athena release artifacts: one SQL file per rule, the table's DDL, and a CloudFormation template with
an `AWS::Athena::NamedQuery` per rule.

Files written into `out_dir` (the release passes dist/athena/):

    queries/<rule>.sql                          the rule's query: two execution parameters, the first and last day
    ddl/cloudtrail_organization.sql             CREATE EXTERNAL TABLE (AWS's documented columns, organization layout)
    cloudformation/athena-named-queries.cfn.yaml  one saved query per rule (Database and WorkGroup parameters)

A rule the backend refuses is left out with its reason in the template's Metadata (and the build table).
AWS::Athena::NamedQuery properties and limits: Name 1-128, Description 1-1024, QueryString 1-262144 characters
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-athena-namedquery.html).
"""

from __future__ import annotations

from pathlib import Path

from sigma.backends.athena.ddl import PARAMETERS, TABLE, create_table

from ..pack import PACK_NAME, PackError, PackRule, shown
from ..release.context import Release, as_release
from .cloudwatch import _camel, dump_yaml, sentences, whole_sentences

TARGET = "athena"
NEEDS = ((TARGET, "default"),)
TEMPLATE_FILE = "cloudformation/athena-named-queries.cfn.yaml"
DDL_FILE = f"ddl/{TABLE}.sql"
NAME_MAX, DESCRIPTION_MAX, QUERY_MAX = 128, 1024, 262144

TIME_RANGE = (
    "parameters: 1. first day, 2. last day, 'yyyy/MM/dd' (the table's timestamp partition), e.g. "
    "aws athena start-query-execution --execution-parameters \"'2026/01/01'\" \"'2026/12/31'\""
)


def header(rule: PackRule, version: str, lines: list[str]) -> str:
    description = " ".join(sentences(rule.rule.description or ""))
    out = [rule.title, f"id: {rule.id}", f"level: {rule.level}", f"description: {description}",
           f"rule: {rule.path.as_posix()}", f"pack: {PACK_NAME} {version}", *lines]
    return "".join(f"-- {' '.join(line.split())}\n" for line in out)


def queries(release: Release, target: str) -> list[tuple[PackRule, str]]:
    """(rule, its one query) for every rule the target compiles."""
    out = []
    for rule in release.pack.rules:
        compiled = release.queries(rule, target)
        if compiled is None:
            continue
        if len(compiled) != 1:
            raise PackError(shown(rule.source), f"{target}: expected one query, got {len(compiled)}")
        out.append((rule, compiled[0]))
    return out


def _put(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    written.append(path)


def template(release: Release, detections: list[tuple[PackRule, str]]) -> dict:
    resources, refused = {}, []
    for rule, query in detections:
        if len(query) > QUERY_MAX:
            raise PackError(shown(rule.source), f"Athena: the query has {len(query)} characters, over NamedQuery's {QUERY_MAX}")
        name = f"{rule.title} ({PACK_NAME})"
        if len(name) > NAME_MAX:
            name = rule.title[:NAME_MAX]
        text = f"{rule.level}; Sigma rule {rule.id}; {TIME_RANGE}. " + " ".join(sentences(rule.rule.description or ""))
        resources[_camel(rule.slug) + "NamedQuery"] = {
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": name,
                "Description": whole_sentences(text, DESCRIPTION_MAX),
                "Database": {"Ref": "Database"},
                "WorkGroup": {"Ref": "WorkGroup"},
                "QueryString": query,
            },
        }
    for rule in release.pack.rules:
        result = release.result(rule, TARGET)
        if getattr(result, "reason", None):
            refused.append({"Id": rule.id, "Title": rule.title, "Reason": result.reason})
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{PACK_NAME} {release.version}: Athena saved queries for {len(resources)} Sigma rules on the "
        f"CloudTrail table {TABLE} ({DDL_FILE}).",
        "Metadata": {"CloudTrailDetectionPack": {"Pack": PACK_NAME, "Version": release.version, "Table": TABLE, "Refused": refused}},
        "Parameters": {
            "Database": {
                "Type": "String",
                "Description": f"Glue Data Catalog database holding the table {TABLE} ({DDL_FILE})",
                "Default": "default",
                "MinLength": 1,
                "MaxLength": 255,
            },
            "WorkGroup": {
                "Type": "String",
                "Description": "Athena workgroup the saved queries belong to",
                "Default": "primary",
                "MinLength": 1,
                "MaxLength": 128,
                "AllowedPattern": "[a-zA-Z0-9._-]{1,128}",
            },
        },
        "Resources": resources,
    }


def write(source, out_dir: Path) -> list[Path]:
    release = as_release(source, NEEDS)
    out_dir = Path(out_dir)
    detections = queries(release, TARGET)
    written: list[Path] = []
    for rule, query in detections:
        _put(out_dir / "queries" / f"{rule.slug}.sql", header(rule, release.version, [TIME_RANGE]) + "\n" + query + ";\n", written)
    parameters = "".join(f"--   {k}: {v}\n" for k, v in PARAMETERS.items())
    _put(out_dir / DDL_FILE, create_table() + ";\n" + "-- Parameters:\n" + parameters, written)
    _put(out_dir / TEMPLATE_FILE, dump_yaml(template(release, detections)), written)
    return written
