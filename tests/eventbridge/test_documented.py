"""Semantics one at a time, each asked of both engines on hand-written records: moto's EventBridge matcher on the
shipped pattern, and the reference engine on the rule. Where the two differ by design, the test pins the
documented difference (pattern.py's docstring), so that it cannot grow unnoticed; where moto departs from AWS's
documentation, the test says so and pins the pattern text instead."""

from __future__ import annotations

from pathlib import Path

from sigma.backends.eventbridge import EventBridgeBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.cloudtrail import eventbridge_cloudtrail_pipeline

from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import Pack, PackRule

from .conftest import moto_matches, rule_yaml, wrap

BASE = {"eventVersion": "1.11", "eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": "DeleteUser", "eventType": "AwsApiCall", "recipientAccountId": "111122223333"}


def verdicts(detection: str, records: list[dict]) -> tuple[list[bool], list[bool]]:
    """(EventBridge via moto, reference) for each record."""
    rule = SigmaCollection.from_yaml(rule_yaml(detection)).rules[0]
    (text,) = EventBridgeBackend(eventbridge_cloudtrail_pipeline()).convert(SigmaCollection([rule]))
    records = [dict(BASE, **r, eventID=f"e{i}") for i, r in enumerate(records)]
    fresh = SigmaCollection.from_yaml(rule_yaml(detection)).rules[0]
    engine = ReferenceEngine(Pack(rules=[PackRule(fresh, Path("r.yml"), 0)], root=Path("."), collection=SigmaCollection([fresh])))
    matched = engine.run(records).matches
    return [moto_matches(text, wrap(r)) for r in records], [bool(matched[r["eventID"]]) for r in records]


def test_not_matches_a_missing_field_a_null_and_another_value_in_both_engines():
    records = [{}, {"errorCode": None}, {"errorCode": "Throttling"}, {"errorCode": "accessdenied"}, {"errorCode": "AccessDenied"}]
    eventbridge, reference = verdicts("sel: {eventName: DeleteUser}\nf: {errorCode: AccessDenied}\ncondition: sel and not f", records)
    assert eventbridge == reference == [True, True, True, False, False]


def test_null_matches_a_missing_field_and_a_json_null_not_an_empty_string():
    records = [{}, {"errorCode": None}, {"errorCode": ""}, {"errorCode": "x"}]
    eventbridge, reference = verdicts("sel: {errorCode: null}\ncondition: sel", records)
    assert eventbridge == reference == [True, True, False, False]


def test_case_insensitive_equality_over_ascii():
    records = [{"userIdentity": {"type": t}} for t in ("IAMUser", "iamuser", "IAMUSER", "IAMUser2")]
    eventbridge, reference = verdicts("sel: {userIdentity.type: IAMUser}\ncondition: sel", records)
    assert eventbridge == reference == [True, True, True, False]


def test_startswith_and_endswith_ignore_case():
    records = [{"userAgent": a} for a in ("Boto3/1.34", "boto3/1.34 md", "xboto3/")]
    eventbridge, reference = verdicts("sel: {userAgent|startswith: BOTO3/}\ncondition: sel", records)
    assert eventbridge == reference == [True, True, False]


def test_wildcard_escapes_keep_literal_asterisks_and_backslashes():
    records = [{"userAgent": "a*b\\c"}, {"userAgent": "axb\\c"}, {"userAgent": "a*bc"}]
    eventbridge, reference = verdicts("sel: {userAgent|cased|contains: 'a\\*b\\\\c'}\ncondition: sel", records)
    assert eventbridge == reference == [True, False, False]


def test_or_across_rules_of_different_fields():
    records = [{"errorCode": "AccessDenied"}, {"eventName": "DeleteRole"}, {"eventName": "CreateUser"}]
    eventbridge, reference = verdicts("a: {eventName: DeleteRole}\nb: {errorCode|exists: true}\ncondition: a or b", records)
    assert eventbridge == reference == [True, True, False]


def test_documented_difference_non_ascii_letters_in_other_case():
    """EventBridge's equals-ignore-case folds letters beyond ASCII (moto: Python's str.lower); the reference
    (SQLite NOCASE) folds ASCII only. Rules spell CloudTrail's values in ASCII."""
    eventbridge, reference = verdicts("sel: {requestParameters.userName: Émile}\ncondition: sel", [{"requestParameters": {"userName": "émile"}}])
    assert (eventbridge, reference) == ([True], [False])


def test_documented_difference_exists_on_a_json_null():
    """A field holding JSON null is present for EventBridge's `exists` (Event Ruler: presence of the field), absent
    for Sigma; CloudTrail leaves errorCode out of a successful call rather than writing null."""
    eventbridge, reference = verdicts("sel: {errorCode|exists: true}\ncondition: sel", [{"errorCode": None}])
    assert (eventbridge, reference) == ([True], [False])


def test_arrays_match_any_element_so_request_arrays_are_refused():
    """The reason for the pipeline's refusal, shown on an unlisted field: EventBridge matches any element, the
    reference compares the whole value."""
    eventbridge, reference = verdicts("sel: {additionalEventData.x|cased: b}\ncondition: sel", [{"additionalEventData": {"x": ["a", "b"]}}])
    assert (eventbridge, reference) == ([True], [False])


def test_moto_departs_from_aws_on_booleans_under_numeric():
    """moto's `numeric` accepts a JSON boolean (Python's bool is an int); Event Ruler's numeric matching works
    "with values that are JSON numbers" only. The backend never relies on it: a Sigma boolean lists the JSON
    boolean itself."""
    eventbridge, reference = verdicts("sel: {additionalEventData.n: 1}\ncondition: sel", [{"additionalEventData": {"n": True}}])
    assert (eventbridge, reference) == ([True], [False])
