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


# ------------------------------------------------------------- service event details (AWS Organizations)
DEPARTED_LEFT = "4debbdb1-ee1d-45aa-bb2b-f8e0468e4f99"
DEPARTED_REMOVED = "807b46a9-5d0a-40c1-af8e-0f1193ef2979"


def _departed(details: dict, event_id: str) -> dict:
    """AWS Organizations' record of a departure, in the management account (a service event: no caller)."""
    return {
        "eventVersion": "1.11",
        "userIdentity": {"type": "AWSService", "accountId": "111122223333", "invokedBy": "organizations.amazonaws.com"},
        "eventTime": "2026-06-09T14:41:09Z",
        "eventSource": "organizations.amazonaws.com",
        "eventName": "AccountDepartedOrganization",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "organizations.amazonaws.com",
        "userAgent": "organizations.amazonaws.com",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsServiceEvent",
        "recipientAccountId": "111122223333",
        "serviceEventDetails": details,
    }


_METHOD_KEYS = ("departedMethod", "departureMethod")


def _says(details: dict, method: str) -> bool:
    """The Sigma rule's meaning: either spelling of the key holds the method, ASCII case ignored."""
    return any(isinstance(details.get(k), str) and details[k].lower() == method.lower() for k in _METHOD_KEYS)


@pytest.mark.parametrize("kind", ["eql", "esql"])
@pytest.mark.parametrize("retain", [None, "all", "minimal", "keyword"])
def test_the_departure_rules_read_the_method_in_the_service_event_rendering(shipped_rules, kind, retain):
    """EQL and ES|QL cannot read the flattened service_event_details: the shipped rules read the keyword rendering,
    which every retain setting that keeps renderings stores; each spelling AWS documents fires its own rule only."""
    cases = {
        "left-announced": {"departedMethod": "Left", "departedTime": "2026-06-09T14:41:08Z"},
        "left-api": {"departureMethod": "LEFT", "departureTime": "2026-06-09T14:41:08Z"},
        "removed-announced": {"departedMethod": "Removed", "departedTime": "2026-06-09T14:41:08Z"},
        "removed-api": {"departureMethod": "REMOVED", "departureTime": "2026-06-09T14:41:08Z"},
        "cleaned": {"departedMethod": "Cleaned", "departedTime": "2026-06-09T14:41:08Z"},
        "cleaned-api": {"departureMethod": "CLEANED", "departureTime": "2026-06-09T14:41:08Z"},
    }
    docs = [to_ecs(_departed(d, name), retain=retain) for name, d in cases.items()]
    assert _fired(_by_sigma(shipped_rules, DEPARTED_LEFT, kind), docs) == {"left-announced", "left-api"}
    assert _fired(_by_sigma(shipped_rules, DEPARTED_REMOVED, kind), docs) == {"removed-announced", "removed-api"}


_DETAIL_TEXT = st.text(alphabet="LEFTleft ,={}[]\n\"*\\", max_size=8)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(details=st.dictionaries(st.sampled_from([*_METHOD_KEYS, "departedTime", "accountId"]), _DETAIL_TEXT, max_size=4))
@example(details={"departedMethod": "Left"})
@example(details={"departureMethod": "LEFT"})
@example(details={"departureMethod": "left"})
@example(details={"accountId": "x, departedMethod=Left", "departedMethod": "Removed"})
@example(details={"departedMethod": "Left}"})
@example(details={"departedMethod": "{Left"})
@example(details={"departedTime": "departedMethod=Left"})
@example(details={})
def test_the_left_rule_fires_in_eql_and_esql_exactly_as_sigma_means_it(shipped_rules, details):
    """Whatever else the details hold: the shipped EQL and ES|QL fire exactly when a method key says Left (ASCII
    case ignored), except where a value itself holds `, ` and can spell another entry (the rendering's documented
    ambiguity: Organizations writes these details itself, but the query does not rely on it)."""
    doc = to_ecs(_departed(details, "e"), retain=None)
    expected = _says(details, "Left")
    for kind in ("eql", "esql"):
        fired = _fired(_by_sigma(shipped_rules, DEPARTED_LEFT, kind), [doc]) == {"e"}
        if expected:
            assert fired, kind
        if not any(", " in v for v in details.values()):
            assert fired == expected, kind
