"""Every fixture record, wrapped as EventBridge delivers it, is run against every pattern the pack ships by moto's
EventBridge pattern matcher, and the verdicts agree exactly with the reference engine. Records that the fixtures hold
as EventBridge envelopes are run in the envelope they came in."""

from __future__ import annotations

import json

import pytest
import rule_facts as facts
from fixture_corpus import FIXTURE_FILES, FIXTURES

from cloudtrail_pack.compilation import compile_pack
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.registry import TARGETS

from .conftest import moto_matches, wrap

PACK = load_pack()
_COMPILED = compile_pack(PACK, [(TARGETS["eventbridge"], "default")])
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


#: What EventBridge cannot express (rule_facts.constructs) and the words its refusal uses for it.
INEXPRESSIBLE = {
    facts.REGEX: "regular expressions",
    facts.FIELDREF: "field references",
    facts.CORRELATION: "correlation rules",
}


def test_the_shipped_patterns_are_the_rules_eventbridge_can_express():
    """The refused rules are exactly those needing a regex, a field comparison, or a correlation (read off each
    rule's detection); each refusal names one of them (a correlation may name its counted rule's)."""
    problems = []
    for rule in PACK.rules:
        needs = facts.constructs(PACK, rule) & INEXPRESSIBLE.keys()
        if rule.id in PATTERNS:
            if needs:
                problems.append(f"{rule.path}: a pattern was written, but the rule needs {sorted(needs)}")
            continue
        reason = _COMPILED.result(rule, "eventbridge").reason
        if not needs:
            problems.append(f"{rule.path}: refused although it needs nothing a pattern lacks: {reason}")
        elif not any(INEXPRESSIBLE[n] in reason for n in needs):
            problems.append(f"{rule.path}: the refusal names none of {sorted(needs)}: {reason}")
    assert not problems, "\n".join(problems)
    assert PATTERNS and len(PATTERNS) < len(PACK.rules)  # both kinds are in the pack


def test_refusals_say_what_the_event_pattern_language_lacks():
    """The three reasons in the build table's words."""
    reasons = {_COMPILED.result(r, "eventbridge").reason for r in PACK.rules if r.id not in PATTERNS}
    assert {
        "regular expressions (requestParameters.policyDocument|re) have no event pattern matcher",
        "field references (requestParameters.userName|fieldref) cannot be expressed: a pattern compares with constants",
        "correlation rules count events over time; EventBridge matches one event at a time",
    } <= reasons


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
