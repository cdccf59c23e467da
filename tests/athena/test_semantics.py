"""Sigma's semantics, case by case, executed: each detection compiled for Athena and CloudTrail Lake, run in DuckDB
over hand-made records (tables.py), and compared with the reference engine on the same records."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection

from cloudtrail_pack.compilation import compile_pack
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import Pack, PackRule
from cloudtrail_pack.registry import TARGETS

from . import tables

BASE = {"eventVersion": "1.09", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}

RECORDS = [
    {**BASE, "readOnly": False, "userIdentity": {"type": "IAMUser", "userName": "Alice"}, "requestParameters": {"userName": "alice"}},
    {**BASE, "readOnly": True, "userIdentity": {"type": "AssumedRole"}, "requestParameters": {"userName": "Bob", "durationSeconds": 3600}},
    {**BASE, "userIdentity": {"type": "IAMUser", "userName": "carol"}, "errorCode": "AccessDenied", "sourceIPAddress": "10.1.2.3"},
    {**BASE, "eventName": "DeleteUserPolicy", "sourceIPAddress": "iam.amazonaws.com", "userAgent": "50% off_deal",
     "requestParameters": {"target": {"id": "123456789012", "type": "ACCOUNT"}, "flag": True}},
    {**BASE, "eventSource": "sts.amazonaws.com", "userAgent": "aws-cli/2.15 Python", "requestParameters": {"userName": "x%y"}},
]

CASES = {
    "boolean false": {"sel": {"readOnly": False}},
    "boolean as string": {"sel": {"readOnly": "true"}},
    "not over a missing field": {"sel": {"eventName": "DeleteUser"}, "f": {"errorCode": "AccessDenied"}, "condition": "sel and not f"},
    "null": {"sel": {"errorCode": None}},
    "fieldref case-insensitive": {"sel": {"requestParameters.userName|fieldref": "userIdentity.userName"}},
    "not fieldref": {"sel": {"eventName": "DeleteUser"}, "f": {"requestParameters.userName|fieldref": "userIdentity.userName"}, "condition": "sel and not f"},
    "contains with % in data": {"sel": {"userAgent|contains": "% off_"}},
    "percent is no wildcard": {"sel": {"requestParameters.userName|startswith": "x%"}},
    "regex": {"sel": {"userAgent|re": "^aws-cli/[0-9]"}},
    "number in JSON": {"sel": {"requestParameters.durationSeconds": 3600}},
    "number compared": {"sel": {"requestParameters.durationSeconds|gte": 3000}},
    "nested request parameter": {"sel": {"requestParameters.target.id": "123456789012"}},
    "boolean in JSON": {"sel": {"requestParameters.flag": True}},
    "cidr": {"sel": {"sourceIPAddress|cidr": "10.0.0.0/8"}},
    "not cidr over hostnames": {"sel": {"eventName": "DeleteUser"}, "f": {"sourceIPAddress|cidr": "10.0.0.0/8"}, "condition": "sel and not f"},
    "canonical case field": {"sel": {"eventSource": "iam.amazonaws.com"}},
    "list under not": {"sel": {"eventName|startswith": "Delete"}, "f": {"userIdentity.type": ["iamuser", "Root"]}, "condition": "sel and not f"},
    "exists": {"sel": {"requestParameters.userName|exists": True}},
    "all wildcard": {"sel": {"userAgent": "*"}},
}


def rule_of(name: str, detection: dict):
    detection = dict(detection)
    condition = detection.pop("condition", "sel")
    return SigmaCollection.from_dicts(
        [{"title": name, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "logsource": {"product": "aws", "service": "cloudtrail"},
          "detection": {**detection, "condition": condition}}]
    ).rules[0]


RULES = [rule_of(name, d) for name, d in CASES.items()]
PACK = Pack(rules=[PackRule(r, Path(f"r{i}.yml"), 0) for i, r in enumerate(RULES)], root=Path("."), collection=SigmaCollection(RULES))
COMPILED = compile_pack(PACK, [(TARGETS["athena"], "default"), (TARGETS["cloudtrail_lake"], "default")])
RECS = [dict(r, eventID=f"e{i}") for i, r in enumerate(RECORDS)]
VERDICT = ReferenceEngine(PACK).run(RECS)
DBS = {"athena": (tables.athena_db(RECS), tables.run_athena), "cloudtrail_lake": (tables.lake_db(RECS), tables.run_lake)}


@pytest.mark.parametrize("target", ["athena", "cloudtrail_lake"])
@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.title)
def test_case_agrees_with_reference(rule, target):
    db, run = DBS[target]
    (sql,) = COMPILED.queries(rule, target)
    expected = {e for e, ids in VERDICT.matches.items() if rule.id in ids}
    assert {r["eventid"] for r in run(sql, db)} == expected


def test_the_cases_are_not_vacuous():
    """Every case matches some record and leaves some out, so agreement means something."""
    for rule in PACK.rules:
        hits = {e for e, ids in VERDICT.matches.items() if rule.id in ids}
        assert hits and hits != {r["eventID"] for r in RECS}, rule.title
