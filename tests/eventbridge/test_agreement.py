"""Every fixture record, wrapped as EventBridge delivers it, is run against every pattern the pack ships by moto's
EventBridge pattern matcher, and the verdicts agree exactly with the reference engine. Records that the fixtures hold
as EventBridge envelopes are run in the envelope they came in."""

from __future__ import annotations

import json

import pytest
from fixture_corpus import FIXTURE_FILES, FIXTURES

from cloudtrail_pack.compilation import compile_pack
from cloudtrail_pack.pack import load_pack

from .conftest import moto_matches, wrap

PACK = load_pack()
_COMPILED = compile_pack(PACK, [("eventbridge", "default")])
PATTERNS = {r.id: _COMPILED.queries(r, "eventbridge")[0] for r in PACK.rules if _COMPILED.queries(r, "eventbridge")}


def events(fixture) -> list[dict]:
    """The fixture's records as EventBridge events: its own envelopes where it has them."""
    if fixture.format == "eventbridge":
        lines = (FIXTURES / fixture.path).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    return [wrap(r) for r in fixture.records]


@pytest.mark.skipif(not FIXTURE_FILES, reason="no fixtures/manifest.yml yet")
@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=str)
def test_every_pattern_agrees_with_the_reference_on_every_record(fixture, reference):
    verdict = reference.run(fixture.records)
    mismatches = []
    for event in events(fixture):
        event_id = str(event["detail"]["eventID"])
        for rule_id, text in PATTERNS.items():
            expected = rule_id in verdict.matches[event_id]
            if moto_matches(text, event) != expected:
                mismatches.append((event_id, rule_id, expected))
    assert mismatches == []


def test_the_shipped_patterns_are_the_rules_eventbridge_can_express():
    """The refused rules are exactly those needing a regex, a field comparison, or a correlation."""
    refused = {r.name: _COMPILED.result(r, "eventbridge").reason for r in PACK.rules if r.id not in PATTERNS}
    assert sorted(refused) == [
        "aws_iam_access_removed_distinct_users",
        "aws_iam_inline_deny_all_policy_put",
        "aws_iam_user_access_key_removed",
        "aws_iam_user_credentials_removed_then_deleted",
        "aws_iam_user_deleted_mass",
        "aws_iam_user_login_profile_removed_or_changed",
        "aws_iam_user_mfa_deactivated",
    ]
    assert refused["aws_iam_inline_deny_all_policy_put"] == (
        "regular expressions (requestParameters.policyDocument|re) have no event pattern matcher"
    )
    assert refused["aws_iam_user_mfa_deactivated"] == (
        "field references (requestParameters.userName|fieldref) cannot be expressed: a "
        "pattern compares with constants"
    )
    assert refused["aws_iam_user_deleted_mass"] == (
        "correlation rules count events over time; EventBridge matches one event at a time"
    )


def test_every_fixture_attack_on_an_expressible_rule_is_matched():
    """Not only agreement: each record the manifest says a shipped rule must match, it matches."""
    checked = 0
    for fixture in FIXTURE_FILES:
        by_id = {str(e["detail"]["eventID"]): e for e in events(fixture)}
        for event_id, rule_ids in fixture.expect.items():
            for rule_id in rule_ids & PATTERNS.keys():
                assert moto_matches(PATTERNS[rule_id], by_id[event_id]), (fixture.path, event_id, rule_id)
                checked += 1
    assert checked >= 20
