"""No rule value leaves its literal, in any target, under any string modifier.

For every target × modifier (plain, contains, startswith, endswith, inner wildcards, cased, re, re|i), a rule
pinning eventSource and matching userAgent with a hostile value (quotes, backslashes, slashes, pipes, line
breaks, `$`, `{}`, `<>`, operators of each language, unicode) is compiled through the target's real pipeline
and backend (as the build and sigma-cli do). The output is then

* parsed by that language's parser (luqum for Lucene, the `eql` package for EQL, sqlglot for Athena and
  CloudTrail Lake, json for EventBridge, the evaluators' SPL, ES|QL and Logs Insights readers), which must find
  exactly two comparisons: eventSource's and userAgent's (a value that broke out would add or remove one);
* run by that language's evaluator over records holding the value and near misses of it, and must match exactly
  those Sigma matches (`re.search` for regular expressions, whose Lucene RegExp form is read by
  evaluators/lucene_regexp.py), so the literal holds the value itself.

A refusal (SigmaFeatureNotSupportedByBackendError: n/a with a reason) is an acceptable outcome for a value a
target cannot hold; any other exception, or a changed structure, is not. cidr, fieldref and exists take no
free text: each is checked on every target with fixed values (structure, and no crash).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import fields as dataclass_fields
from dataclasses import is_dataclass

import pytest
import sqlglot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from luqum import tree
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from cloudtrail_pack.artifacts.splunk import conf_stanza
from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import backend_for
from elastic.elastic_eql import parse as eql_parse
from elastic_ingest import to_ecs
from evaluators import esql, logs_insights, lucene, lucene_regexp, spl
from evaluators.syntax import Wildcards
from eventbridge.conftest import moto_matches, wrap
from athena import tables
from sigma.pipelines.cloudtrail.splunk import FILTER_DEFINITION, SCOPE_DEFINITION, SCOPE_MACRO

import eql as eql_package
from eql.walkers import DepthFirstWalker

FIELD = "userAgent"
#: The two fields every compiled query must compare, each once, per target.
FIELDS = {
    "cloudwatch": ["eventSource", "userAgent"],
    "splunk": ["eventSource", "userAgent"],
    "lucene": ["event.provider", "user_agent.original"],
    "eql": ["event.provider", "user_agent.original"],
    "esql": ["event.provider", "user_agent.original"],
    "eventbridge": ["eventSource", "userAgent"],
    "athena": ["eventsource", "useragent"],
    "cloudtrail_lake": ["eventsource", "useragent"],
}
MODIFIERS = ["plain", "contains", "startswith", "endswith", "wildcards", "cased", "re", "re_i"]
SUFFIX = {"plain": "", "contains": "|contains", "startswith": "|startswith", "endswith": "|endswith", "wildcards": "",
          "cased": "|cased", "re": "|re", "re_i": "|re|i"}

SPECIAL = list('"\'\\|/*?:()[]{}<>^~!&+-=$#@%;,` \t\n\r\u3000\u2028\x00\x85') + ["AND", "OR", "NOT", " or ", "| where", "*/", "é", "日", "\U0001f600"]
HOSTILE = st.lists(st.one_of(st.sampled_from(SPECIAL), st.characters(exclude_categories=("Cs",))), min_size=1, max_size=8).map("".join)
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SPLUNK = spl.SplunkEvaluator({SCOPE_MACRO: SCOPE_DEFINITION, "cloudtrail_detection_pack_hostile_filter": FILTER_DEFINITION})
#: EQL's `:` and `like~` patterns: `*` and `?`, no escape (EQL syntax reference, "Wildcards").
EQL_WILDCARDS = Wildcards(many="*", one="?")
#: Values Elastic's AWS integration deletes at ingest (docs/elastic.md): no Elastic query can see them.
ECS_DROPPED = {"", "-", "none"}


def sigma_literal(text: str) -> str:
    return re.sub(r"([*?\\])", r"\\\1", text)


def rule_for(modifier: str, value: str) -> dict:
    """`value` is the text (for re/re_i: the regular expression; for wildcards: two halves joined by `*`)."""
    if modifier in ("re", "re_i"):
        written = value
    elif modifier == "wildcards":
        half = len(value) // 2
        written = sigma_literal(value[:half]) + "*" + sigma_literal(value[half:])
    else:
        written = sigma_literal(value)
    return {
        "title": "Hostile",
        "id": str(uuid.UUID(int=7)),
        "name": "hostile",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {"eventSource": "iam.amazonaws.com", FIELD + SUFFIX[modifier]: written}, "condition": "sel"},
        "level": "low",
    }


def compile_rule(target: str, rule: dict) -> str | None:
    """The query, or None if the target refused the rule (any other exception fails the test)."""
    try:
        (query,) = backend_for(TARGETS[target]).convert(SigmaCollection.from_dicts([rule]))
    except SigmaFeatureNotSupportedByBackendError:
        return None
    return query


def sigma_matches(modifier: str, value: str, text: str) -> bool:
    if modifier in ("plain", "cased"):
        return text == value
    if modifier == "contains":
        return value in text
    if modifier == "startswith":
        return text.startswith(value)
    if modifier == "endswith":
        return text.endswith(value)
    if modifier == "wildcards":
        half = len(value) // 2
        return re.fullmatch(re.escape(value[:half]) + ".*" + re.escape(value[half:]), text, re.S) is not None
    return re.search(value, text, re.I if modifier == "re_i" else 0) is not None


def candidates(modifier: str, value: str) -> list[str]:
    """The value and near misses; none differing from another only in letter case (targets fold case
    differently, documented per target)."""
    if modifier in ("re", "re_i"):
        texts = [value, "#" + value, "x", "", "\n", "a\nb", "c/d", 'x" or y', "<b>"]
        texts += [m.group(0) for m in (re.search(value, t) for t in list(texts)) if m]  # what the pattern matched
    else:
        half = len(value) // 2
        texts = [value, value + "#", "#" + value, "#" + value + "#", value[:-1], value[1:], value[:half] + "#" + value[half:]]
    out = []
    for t in dict.fromkeys(texts):
        if t and not any(t != o and t.casefold() == o.casefold() for o in out):
            out.append(t)
    return out


def record(i: int, text: str) -> dict:
    return {"eventVersion": "1.08", "eventID": f"00000000-0000-4000-8000-{i:012d}", "eventTime": "2026-11-23T10:00:00Z",
            "eventSource": "iam.amazonaws.com", "eventName": "X", "awsRegion": "us-east-1", "userAgent": text,
            "recipientAccountId": "111122223333"}


# --- structure: the fields each language's parser finds compared ---------------------------------------


def _tree_fields(node, out: list) -> None:
    """Fields of the evaluators' syntax trees (SPL, ES|QL, Logs Insights): Field nodes, SPL terms, `| regex`."""
    kind = type(node).__name__
    if kind == "Field" and hasattr(node, "name"):
        out.append(node.name)
        return
    if kind == "Term" and hasattr(node, "field"):
        out.append(node.field)
    if isinstance(node, spl.RegexArgs):
        out.append(node.field)
        return
    if is_dataclass(node):
        for f in dataclass_fields(node):
            _tree_fields(getattr(node, f.name), out)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _tree_fields(item, out)
    elif isinstance(node, dict):
        for item in node.values():
            _tree_fields(item, out)


def compared_fields(target: str, query: str) -> list[str]:
    out: list[str] = []
    if target == "lucene":
        def walk(node):
            if isinstance(node, tree.SearchField):
                out.append(lucene.unescape(node.name) if node.name != "_exists_" else lucene.unescape(str(node.expr)))
                return
            for child in node.children:
                walk(child)
        walk(lucene.parse(query))
    elif target == "eql":
        class Collect(DepthFirstWalker):
            def _walk_field(self, node, *args, **kwargs):
                out.append(".".join([node.base, *map(str, node.path)]))
                return node
        Collect().walk(eql_parse(query))
    elif target == "eventbridge":
        pattern = json.loads(query)
        for name, matchers in pattern["detail"].items():
            assert len(matchers) == 1, query
            out.append(name)
    elif target in ("athena", "cloudtrail_lake"):
        where = sqlglot.parse_one(query, read="trino").find(sqlglot.exp.Where)
        out.extend(c.name for c in where.find_all(sqlglot.exp.Column) if c.name not in ("timestamp", "eventtime", "account", "region", "ACCOUNT_IDS"))
    elif target == "splunk":
        _tree_fields([c.node for c in SPLUNK.parse(query)], out)
        out = [f for f in out if f not in ("index", "sourcetype")]
    elif target == "esql":
        _tree_fields([c.args.get("expr") for c in esql.parse(query) if c.name == "where"], out)
    else:
        _tree_fields([c.args for c in logs_insights.parse(query).commands if c.name == "filter"], out)
    return sorted(out)


# --- meaning: which records the query matches, run by the language's evaluator ---------------------------


def _eql_matches(query: str, doc: dict | None) -> bool:
    """EQL's comparison of user_agent.original, evaluated with Elasticsearch's semantics: `:` a case-insensitive
    wildcard match, `==` exact, `regex~` a Lucene RegExp ignoring ASCII case (the eql package's engine runs
    Python regexes and folds case in `==`, elastic_eql.py)."""
    value = (doc or {}).get("user_agent", {}).get("original")
    found = []

    class Collect(DepthFirstWalker):
        def _walk_function_call(self, node, *args, **kwargs):
            if node.name in ("match", "wildcard") and "user_agent" in str(node.arguments[0]):
                found.append((node.name, [a.value for a in node.arguments[1:]]))
            return node

        def _walk_comparison(self, node, *args, **kwargs):
            if "user_agent" in str(node.left):
                found.append((node.comparator, [node.right.value]))
            return node

    Collect().walk(eql_parse(query))
    ((op, literals),) = found
    if value is None:
        return False
    if op == "match":
        return any(lucene_regexp.compile(lit, re.I | re.A).fullmatch(value) for lit in literals)
    if op == "==":
        return value == literals[0]
    return any(EQL_WILDCARDS.regex(lit, re.S | re.I).fullmatch(value) for lit in literals)


def matching(target: str, query: str, texts: list[str]) -> list[bool]:
    records = [record(i, t) for i, t in enumerate(texts)]
    if target in ("athena", "cloudtrail_lake"):
        db, run = (tables.athena_db(records), tables.run_athena) if target == "athena" else (tables.lake_db(records), tables.run_lake)
        ids = {r["eventid"] for r in run(query, db)}
        return [r["eventID"] in ids for r in records]
    if target == "cloudwatch":
        return [logs_insights.matches(query, r) for r in records]
    if target == "splunk":
        conf_read = spl.parse_conf(conf_stanza("Hostile", {"search": query}))["Hostile"]["search"]
        found = {i for row in SPLUNK.run(conf_read, records) for i in row.sources}
        return [i in found for i in range(len(records))]
    if target == "eventbridge":
        return [moto_matches(query, wrap(r)) for r in records]
    docs = [to_ecs(r) for r in records]
    if target == "lucene":
        return [lucene.matches(query, d) for d in docs]
    if target == "esql":
        return [bool(esql.run(query, [d]).rows) for d in docs]
    return [_eql_matches(query, d) for d in docs]


def check(target: str, modifier: str, value: str) -> str | None:
    if modifier in ("re", "re_i"):
        try:
            re.compile(value)
        except re.error:
            return None  # not a regular expression: pySigma rejects the rule for every target
        if re.search(r"[*+?}]\+|\(\?>", value):
            return None  # possessive and atomic (Python 3.11, Java): DuckDB's RE2, which runs the SQL here, has neither
    query = compile_rule(target, rule_for(modifier, value))
    if query is None:
        return None
    assert compared_fields(target, query) == FIELDS[target], query
    texts = candidates(modifier, value)
    if target in ("lucene", "eql", "esql"):
        texts = [t for t in texts if t.lower() not in ECS_DROPPED]
    got = matching(target, query, texts)
    want = [sigma_matches(modifier, value, t) for t in texts]
    assert got == want, (query, list(zip(texts, got, want)))
    return query


CASES = [(t, m) for t in TARGETS for m in MODIFIERS]


@pytest.mark.parametrize(("target", "modifier"), CASES)
@SETTINGS
@given(value=st.one_of(HOSTILE, HOSTILE.map(re.escape)))  # for re: raw hostile syntax, or the text matched literally
@example(value='x" or event.provider : "y')
@example(value="c\\/d")
@example(value="a\nb")
@example(value="a|b")
@example(value="${x}<y>")
@example(value="\\")
def test_hostile_value_stays_one_literal(target, modifier, value):
    check(target, modifier, value)


# --- the defects of the issue, each asserted on the text -------------------------------------------------


def test_eql_regex_quote_stays_inside_its_string():
    """`x" or event.provider : "y` in a |re|i was a second condition (pysigma-backend-elasticsearch left `"` raw)."""
    query = check("eql", "re_i", 'x" or event.provider : "y')
    assert query is not None
    assert compared_fields("eql", query) == ["event.provider", "user_agent.original"]


def test_lucene_escaped_slash_stays_inside_the_regex():
    """`c\\/d` became `/c\\\\/d/`: the slash ended the regex and `d/` was a stray term."""
    query = check("lucene", "re", "c\\/d")
    assert query.endswith("user_agent.original:/.*c\\/d.*/"), query


@pytest.mark.parametrize("target", ["splunk", "eql", "lucene", "esql"])
def test_regex_line_break_is_escaped(target):
    """A raw line break in a regular expression went unescaped into SPL and EQL."""
    query = check(target, "re_i" if target == "eql" else "re", "a\nb")
    assert query is not None
    if target in ("splunk", "eql", "esql"):
        assert "\n" not in query.split("eventSource", 1)[-1].split("\n| `cloudtrail_detection_pack_hostile_filter`")[0].replace("\n| regex", " | regex"), query


def test_eql_case_sensitive_regex_is_refused_with_the_reason():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="regex~, which ignores ASCII case"):
        backend_for(TARGETS["eql"]).convert(SigmaCollection.from_dicts([rule_for("re", "Boto3")]))


# --- modifiers without free text --------------------------------------------------------------------------

FIXED = {
    "cidr": ("sourceIPAddress|cidr", "10.0.0.0/8"),
    "fieldref": ("requestParameters.userName|fieldref", "userIdentity.userName"),
    "exists": ("userAgent|exists", True),
    "not_exists": ("userAgent|exists", False),
}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("modifier", list(FIXED))
def test_fixed_value_modifiers_convert_or_refuse(target, modifier):
    key, value = FIXED[modifier]
    rule = rule_for("plain", "x")
    rule["detection"]["sel"] = {"eventSource": "iam.amazonaws.com", "userIdentity.type": "IAMUser", key: value}
    query = compile_rule(target, rule)
    if query is not None and target != "eventbridge":  # EventBridge: a pattern's `$or` holds several matchers
        assert len(compared_fields(target, query)) >= 3, query
    elif query is not None:
        assert set(json.loads(query)["detail"]) >= {"eventSource", "userIdentity"}, query
