"""Any error a backend raises for one rule and target becomes that rule's refusal with its reason (n/a in the
build table), never a traceback: every Sigma modifier on every target compiles to a query or a refusal, through
`compile_pack` (what check, build and convert share), `cloudtrail-pack convert` and sigma-cli."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection

from cloudtrail_pack.compilation import Output, Refusal, compile_pack
from cloudtrail_pack.pack import Pack, PackRule
from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import Target
from evaluators import esql, lucene
from elastic_ingest import to_ecs

ROOT = Path(__file__).resolve().parents[1]

#: One selection per Sigma modifier (pySigma 1.5.1's sigma.modifiers.modifier_mapping), with values it takes.
MODIFIERS = {
    "plain": {"userAgent": 'a"b'},
    "contains": {"userAgent|contains": "a/b"},
    "startswith": {"userAgent|startswith": "a|b"},
    "endswith": {"userAgent|endswith": "a\\b"},
    "all": {"userAgent|contains|all": ["a", "b"]},
    "neq": {"userAgent|neq": "x"},
    "base64": {"userAgent|base64": "x"},
    "base64offset": {"userAgent|base64offset|contains": "xyz"},
    "cased": {"userAgent|cased": "Boto3"},
    "cased contains": {"userAgent|contains|cased": "Boto3"},
    "windash cased": {"userAgent|windash|cased": "-x"},
    "cidr": {"sourceIPAddress|cidr": "10.0.0.0/8"},
    "exists": {"userAgent|exists": True},
    "not exists": {"userAgent|exists": False},
    "expand": {"userAgent|expand": "%x%"},
    "fieldref": {"requestParameters.userName|fieldref": "userIdentity.userName"},
    "gt": {"requestParameters.maxItems|gt": 3},
    "lte": {"requestParameters.maxItems|lte": 3},
    "re": {"userAgent|re": 'x" or event.provider : "y'},
    "re i": {"userAgent|re|i": "c\\/d"},
    "re m": {"userAgent|re|m": "^a.b$"},
    "re s": {"userAgent|re|s": "a\nb"},
    "utf16 base64offset": {"userAgent|utf16|base64offset|contains": "x"},
    "wide base64offset": {"userAgent|wide|base64offset|contains": "x"},
    "windash": {"userAgent|windash|contains": "-x"},
    "minute": {"eventTime|minute": 5},
    "year": {"eventTime|year": 2025},
    "null": {"userAgent": None},
}


def rule(name: str, selection: dict):
    detection = {"sel": {"eventSource": "iam.amazonaws.com", "userIdentity.type": "IAMUser", **selection}, "condition": "sel"}
    return SigmaCollection.from_dicts(
        [{"title": f"Modifier {name}", "name": "modifier_" + name.replace(" ", "_"), "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "status": "test",
          "logsource": {"product": "aws", "service": "cloudtrail"}, "detection": detection, "level": "low"}]
    ).rules[0]


RULES = [rule(name, selection) for name, selection in MODIFIERS.items()]
PACK = Pack(rules=[PackRule(r, Path(f"r{i}.yml"), 0, Path(f"r{i}.yml")) for i, r in enumerate(RULES)], root=Path("."), collection=SigmaCollection(RULES))


@pytest.fixture(scope="module")
def compiled():
    return compile_pack(PACK, [(t, "default") for t in TARGETS.values()])


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_modifier_compiles_or_is_refused_with_a_reason(compiled, target):
    for pack_rule in PACK.rules:
        result = compiled.result(pack_rule, target)
        assert isinstance(result, (Output, Refusal)), (pack_rule.title, result)
        if isinstance(result, Refusal):
            assert result.reason and "\n" not in result.reason and "while converting" not in result.reason, result.reason
            assert "Traceback" not in result.reason


def test_the_named_modifiers_get_the_reason_of_what_the_target_cannot_do(compiled):
    reasons = {(p.title, t): r.reason for (i, t, _), r in compiled.results.items() for p in PACK.rules if p.id == i and isinstance(r, Refusal)}
    assert reasons[("Modifier exists", "eql")] == (
        "ecs_cloudtrail: userAgent|exists: pysigma-backend-elasticsearch has no EQL expression for whether a field exists"
    )
    assert reasons[("Modifier minute", "lucene")] == "ecs_cloudtrail: eventTime: Lucene query syntax cannot compare a part of a date (|minute, |hour, ...)"
    assert reasons[("Modifier minute", "splunk")].startswith("splunk_cloudtrail: eventTime: pysigma-backend-splunk has no expression")
    assert "among the alternatives" in reasons[("Modifier windash cased", "splunk")]
    assert "case-insensitive like~" in reasons[("Modifier windash cased", "eql")]


@pytest.mark.parametrize("target", ["lucene", "esql"])
def test_cased_is_a_case_sensitive_match_in_lucene_and_esql(compiled, target):
    """|cased crashed with NotImplementedError; both languages compare keywords case-sensitively."""
    by_title = {p.title: p for p in PACK.rules}
    base = {"eventSource": "iam.amazonaws.com", "eventName": "X", "eventTime": "2026-11-23T10:00:00Z", "eventID": "e1",
            "userIdentity": {"type": "IAMUser"}}
    for title, hit, miss in (("Modifier cased", "Boto3", "boto3"), ("Modifier cased contains", "xBoto3y", "xboto3y")):
        (query,) = compiled.queries(by_title[title], target)
        docs = [to_ecs(dict(base, userAgent=v)) for v in (hit, miss)]
        if target == "lucene":
            assert [lucene.matches(query, d) for d in docs] == [True, False], query
        else:
            assert [bool(esql.run(query, [d]).rows) for d in docs] == [True, False], query


def test_an_exception_a_backend_raises_is_a_refusal_naming_its_package(monkeypatch):
    """The class fix itself, with the real Lucene backend behind a pipeline that leaves |cased to it
    (pysigma-backend-elasticsearch's own ecs_windows): its NotImplementedError is the rule's refusal."""
    bare_lucene = Target("bare_lucene", "lucene", "ecs_windows", "Elastic Lucene (no CloudTrail pipeline)")
    cased = PACK.rules[list(MODIFIERS).index("cased")]
    result = compile_pack(PACK, [(bare_lucene, "default")], rules=[cased]).result(cased, "bare_lucene")
    assert result == Refusal(
        "Elastic Lucene (no CloudTrail pipeline): pySigma-backend-elasticsearch cannot convert this rule "
        "(NotImplementedError: Case-sensitive string matching is not supported by backend.)"
    )


def write_rule(folder: Path, selection: dict) -> Path:
    path = folder / "hostile.yml"
    path.write_text(yaml.safe_dump({
        "title": "Hostile Value", "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f0002", "status": "test", "description": "x",
        "author": "x", "date": "2025-01-01", "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"selection": {"eventSource": "iam.amazonaws.com", **selection}, "condition": "selection"}, "level": "low",
    }))
    return path


@pytest.mark.parametrize(("target", "selection", "code", "text"), [
    ("lucene", {"userAgent|cased": "Boto3"}, 0, "user_agent.original:Boto3"),
    ("esql", {"userAgent|cased": "Boto3"}, 0, 'user_agent.original=="Boto3"'),
    ("eql", {"userAgent|exists": True}, 1, "pysigma-backend-elasticsearch has no EQL expression for whether a field exists"),
])
def test_convert_prints_the_query_or_one_line_error(tmp_path, target, selection, code, text):
    path = write_rule(tmp_path, selection)
    run = subprocess.run([sys.executable, str(ROOT / "build.py"), "--rules-dir", str(tmp_path), "convert", str(path), target],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == code, run.stderr
    assert text in run.stdout + run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) <= 1, run.stderr


@pytest.mark.parametrize(("target", "selection", "text"), [
    ("lucene", {"userAgent|cased": "Boto3"}, "user_agent.original:Boto3"),
    ("eql", {"userAgent|re|i": 'x" or event.provider : "y'}, 'regex~ ".*[Xx]\\\\\\"'),
    ("eql", {"userAgent|exists": True}, "no EQL expression for whether a field exists"),
    ("splunk", {"eventTime|minute": 5}, "no expression for a part of a date"),
])
def test_sigma_cli_gets_the_same_fix(sigma, tmp_path, target, selection, text):
    run = sigma("convert", "-t", target, "-p", {"splunk": "splunk_cloudtrail"}.get(target, "ecs_cloudtrail"), str(write_rule(tmp_path, selection)))
    assert text in run.output, run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize("target", ["athena", "cloudtrail_lake"])
def test_an_expanded_value_stays_under_its_and(compiled, target):
    """|windash's alternatives were an OR written without parentheses inside the AND with eventSource, so an
    event of any service with the value matched."""
    from athena import tables

    by_title = {p.title: p for p in PACK.rules}
    (sql,) = compiled.queries(by_title["Modifier windash"], target)
    records = [{"eventID": f"e{i}", "eventTime": "2026-11-23T10:00:00Z", "eventSource": source, "eventName": "X",
                "userIdentity": {"type": "IAMUser"}, "userAgent": "a/x"} for i, source in enumerate(["iam.amazonaws.com", "sts.amazonaws.com"])]
    db, run = (tables.athena_db(records), tables.run_athena) if target == "athena" else (tables.lake_db(records), tables.run_lake)
    assert [r["eventid"] for r in run(sql, db)] == ["e0"], sql
