"""Request keys matched in the integration's keyword rendering (`aws.cloudtrail.request_parameters`, a Java
Map's toString: backends/sigma/pipelines/cloudtrail/elastic_rendered.py), run with the real parts: the shipped
Kibana rules, the integration's pipeline as code (tests/elastic_ingest.py), the `eql` engine and the ES|QL
evaluator; and the regular expressions within Elasticsearch's limits."""

from __future__ import annotations

import re

import elastic_eql
import pytest
from elastic_ingest import java_to_string, to_ecs
from evaluators import esql, lucene_regexp
from evaluators.regexp_states import determinized_states
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sigma.pipelines.cloudtrail.elastic_rendered import MAX_REGEX_LENGTH, entry_patterns
from sigma.types import SigmaString

ACCESS_KEY = "4b9e1931-380b-48fe-beb5-ee3c4a2edb4d"
INLINE_DENY_ALL = "eb97df7b-7184-425f-bbec-773cb636a809"


def _update_access_key(user: str, status: str, caller: str = "admin") -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{caller}", "userName": caller},
        "eventTime": "2026-02-17T11:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "UpdateAccessKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2",
        "requestParameters": {"userName": user, "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": status},
        "eventID": f"{user}-{status}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }


def _by_sigma(shipped_rules, sigma_id: str, kind: str) -> dict:
    return next(r for r in shipped_rules if r["meta"]["sigma_id"] == sigma_id and r["type"] == kind)


def _fired(rule: dict, docs: list[dict]) -> set[str]:
    if rule["type"] == "eql":
        return {d["event"]["id"] for seq in elastic_eql.run(rule["query"], docs) for d in seq}
    return {d["event"]["id"] for d in esql.run(rule["query"], docs).documents}


# A user named so that the rendering holds `status=Inactive` (issue 20), and values with the rendering's
# delimiters and spaces: only the genuinely deactivated keys fire.
HOSTILE_USERS = ["x,status=Inactive", "x,status=Inactive}", "{status=Inactive}", "a=b", "a b", "x}, status=Active"]


@pytest.mark.parametrize("kind", ["eql", "esql"])
@pytest.mark.parametrize("retain", [None, "all", "minimal", "keyword"])
def test_the_access_key_rule_fires_on_deactivation_only_whatever_the_user_is_named(shipped_rules, kind, retain):
    rule = _by_sigma(shipped_rules, ACCESS_KEY, kind)
    records = [_update_access_key(u, "Active") for u in HOSTILE_USERS] + [_update_access_key(u, "Inactive") for u in HOSTILE_USERS]
    docs = [to_ecs(r, retain=retain) for r in records]
    assert _fired(rule, docs) == {f"{u}-Inactive" for u in HOSTILE_USERS}


# ------------------------------------------------------------------------------------- the entry pattern
_TEXT = st.text(alphabet="ab ,={}[]\n\"*?\\/|AB", max_size=8)
_KEYS = st.sampled_from(["userName", "status", "accessKeyId", "policyArn", "a"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(params=st.dictionaries(_KEYS, _TEXT.filter(lambda v: v not in ("", "-", "none")), max_size=4), key=_KEYS, value=_TEXT.filter(bool))
@example(params={"userName": "x,status=Inactive", "status": "Active"}, key="status", value="Inactive")
@example(params={"userName": "x", "status": "inactive"}, key="status", value="Inactive")
@example(params={"status": "Inactive}"}, key="status", value="Inactive")
@example(params={"status": "{Inactive"}, key="status", value="Inactive")
@example(params={"a": "x=1", "status": "a b"}, key="status", value="a b")
@example(params={"userName": "x, status=Inactive"}, key="status", value="Inactive")
def test_the_entry_pattern_matches_the_rendering_exactly_where_no_value_holds_a_separator(params, key, value):
    """Completeness: a rendering whose `key` has `value` (ASCII case ignored, as Sigma compares) matches. Soundness
    where the rendering is unambiguous: when no value holds `, ` (the entry separator), a match means `key`
    has `value`. A value holding `, ` can spell another entry: the documented ambiguity, shown by the last example."""
    rendering = java_to_string(params)
    literal = SigmaString("")
    literal.s = (value,)  # the text as it is: no wildcards (the pipeline refuses them in the rendering)
    (pattern,) = entry_patterns(key, literal)
    matched = lucene_regexp.compile(pattern).fullmatch(rendering) is not None
    has = key in params and params[key].lower() == value.lower()
    if has:
        assert matched
    if not any(", " in v for v in params.values()):
        assert matched == has


# ------------------------------------------------------------------------------ Elasticsearch's limits
def _regexes(rule: dict) -> list[str]:
    return [v[1] for _field, v in esql.compared_values(rule["query"]) if isinstance(v, tuple) and v[0] == "rlike"]


def test_every_shipped_regex_is_within_elasticsearchs_length_and_determinization_limits(shipped_rules):
    """index.max_regex_length (1000) and 10,000 determinized states (estimated: tests/evaluators/regexp_states.py);
    the deny-all regex as one pattern is 1,203 characters and does not determinize within the limit."""
    patterns = sorted({p for r in shipped_rules if r["type"] == "esql" for p in _regexes(r)})
    assert len(patterns) >= 6 + 1  # the inline deny-all's six orderings, the access key's status
    for pattern in patterns:
        assert len(pattern) <= MAX_REGEX_LENGTH, pattern
        assert determinized_states(pattern) < 10_000, pattern


def test_the_inline_deny_all_rule_is_shipped_in_lucene_and_esql(shipped_rules):
    kinds = {r["type"]: r for r in shipped_rules if r["meta"]["sigma_id"] == INLINE_DENY_ALL}
    assert set(kinds) == {"query", "esql"}
    assert "aws.cloudtrail.request_parameters:/" in kinds["query"]["query"]
    assert re.search(r"request_parameters rlike", kinds["esql"]["query"])


def test_rules_reading_the_rendering_say_what_it_cannot_tell_apart(shipped_rules):
    reading = [r for r in shipped_rules if "aws.cloudtrail.request_parameters" in r["query"]]
    assert {r["meta"]["sigma_id"] for r in reading} >= {ACCESS_KEY, INLINE_DENY_ALL}
    for rule in reading:
        assert "`x,status=Inactive` does not match" in rule["note"] and "8,191 characters" in rule["note"], rule["name"]
