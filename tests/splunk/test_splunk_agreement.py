"""Every search of the shipped app, as read back from its savedsearches.conf and run by the SPL
evaluator with the app's macros.conf, agrees with the reference engine on every fixture record: the
same records match each base rule, and each correlation raises the same incidents (overlapping alerts
merged, as `Verdict.incidents` does)."""

from __future__ import annotations

import pytest

from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.engine.reference import Alert, Verdict
from sigma.correlations import SigmaCorrelationType
from sigma.pipelines.cloudtrail.splunk import ordered_steps
from evaluators.index_time import run_newly_indexed
from fixture_corpus import FIXTURE_FILES

RULES = [r for r in load_pack().rules if not r.step_only]  # the app has a search for each (a step's is in its correlation's)
_verdicts: dict[int, Verdict] = {}


def verdict(reference, index: int, records: list[dict]) -> Verdict:
    if index not in _verdicts:
        _verdicts[index] = reference.run(records)
    return _verdicts[index]


def shipped_search(savedsearches: dict, rule) -> str:
    found = [s["search"] for s in savedsearches.values() if s["search"].endswith(f"| `cloudtrail_detection_pack_{rule.slug}_filter`")]
    assert len(found) == 1, f"{rule.id}: {len(found)} shipped searches"
    return found[0]


def is_ordered(rule) -> bool:
    return rule.is_correlation and rule.rule.type == SigmaCorrelationType.TEMPORAL_ORDERED


def ordered_result(evaluator, search: str, rule, records: list[dict]):
    """An ordered temporal correlation, per group: (the step-2 events the search reports, the events of their
    windows). The search reports every step-2 event that completes a sequence; the reference engine reports
    per window the first qualifying events of each step, so the two are compared by `ordered_problems`."""
    out: dict[tuple, tuple[set, set]] = {}
    for row in newly_indexed(evaluator, search, records):
        group = tuple(sorted((f, str(row.first(f)).lower()) for f in rule.rule.group_by or []))
        reported, seen = out.setdefault(group, (set(), set()))
        reported |= {str(records[i]["eventID"]) for i in row.sources}
        seen |= {str(records[i]["eventID"]) for i in row.window}
    return out


def ordered_problems(found: dict, verdict: Verdict, rule) -> list:
    """Empty when the search alerts for exactly the reference's groups, every event the reference reports is
    in the search's windows, and every step-2 event the reference reports is one the search reports."""
    _, second_step = ordered_steps(rule.rule)
    second = {str(rule.rule.rules[i].rule.id) for i in second_step}
    incidents = {}
    for rule_id, group, events in verdict.incidents():
        if rule_id == rule.id:
            incidents.setdefault(group, set()).update(events)
    problems = []
    if set(found) != set(incidents):
        problems.append(("groups", sorted(found), sorted(incidents)))
    for group, events in incidents.items():
        reported, seen = found.get(group, (set(), set()))
        if not events <= seen:
            problems.append(("outside the search's windows", group, sorted(events - seen)))
        last = {e for e in events if verdict.matches.get(e, frozenset()) & second}
        if not last <= reported:
            problems.append(("step-2 events not reported", group, sorted(last - reported)))
    return problems


def newly_indexed(evaluator, search: str, records: list[dict]):
    """The shipped search in the run that first sees all of `records` (a correlation bounds index time in its
    search: every record indexed in that run's window)."""
    return run_newly_indexed(evaluator, search, records)


def splunk_result(evaluator, search: str, rule, records: list[dict]):
    rows = newly_indexed(evaluator, search, records)
    if not rule.is_correlation:
        return {str(records[i]["eventID"]) for row in rows for i in row.sources}
    group_by = rule.rule.group_by or []
    alerts = [
        Alert(rule.id, {f: row.first(f) for f in group_by}, frozenset(str(records[i]["eventID"]) for i in row.window))
        for row in rows
    ]
    return Verdict({}, alerts).incidents()


def reference_result(v: Verdict, rule):
    if not rule.is_correlation:
        return {event_id for event_id, rules in v.matches.items() if rule.id in rules}
    return {i for i in v.incidents() if i[0] == rule.id}


@pytest.mark.skipif(not FIXTURE_FILES, reason="no fixtures/manifest.yml yet")
@pytest.mark.parametrize("index", range(len(FIXTURE_FILES)), ids=[str(f.path) for f in FIXTURE_FILES])
@pytest.mark.parametrize("rule", RULES, ids=[r.slug for r in RULES])
def test_shipped_search_agrees_with_reference(index, rule, reference, savedsearches, shipped_evaluator):
    if rule.id in reference.unsupported:
        pytest.skip(f"the reference engine cannot evaluate {rule.id}: {reference.unsupported[rule.id]}")
    records = FIXTURE_FILES[index].records
    search = shipped_search(savedsearches, rule)
    if is_ordered(rule):
        found = ordered_result(shipped_evaluator, search, rule, records)
        assert ordered_problems(found, verdict(reference, index, records), rule) == []
        return
    assert splunk_result(shipped_evaluator, search, rule, records) == reference_result(
        verdict(reference, index, records), rule
    )


def corpus_reference(reference, rule):
    """The reference result for all files together: the union of the per-file results (each file covers
    its own day, so no correlation window spans two files; the manifest guarantees it)."""
    out = set()
    for index, f in enumerate(FIXTURE_FILES):
        out |= reference_result(verdict(reference, index, f.records), rule)
    return out


@pytest.mark.skipif(not FIXTURE_FILES, reason="no fixtures/manifest.yml yet")
@pytest.mark.parametrize("rule", RULES, ids=[r.slug for r in RULES])
def test_shipped_search_agrees_on_the_whole_corpus_at_once(rule, reference, savedsearches, shipped_evaluator):
    """All files in one search, as an index holds them: time order across files, no cross-file window."""
    if rule.id in reference.unsupported:
        pytest.skip(f"the reference engine cannot evaluate {rule.id}")
    records = [r for f in FIXTURE_FILES for r in f.records]
    search = shipped_search(savedsearches, rule)
    if is_ordered(rule):
        found = ordered_result(shipped_evaluator, search, rule, records)
        assert ordered_problems(found, reference.run(records), rule) == []
        return
    assert splunk_result(shipped_evaluator, search, rule, records) == corpus_reference(reference, rule)


@pytest.mark.skipif(not FIXTURE_FILES, reason="no fixtures/manifest.yml yet")
@pytest.mark.parametrize("rule", RULES, ids=[r.slug for r in RULES])
def test_the_corpus_exercises_every_search(rule, reference):
    """Each base rule matches some fixture record and each correlation fires: agreement is not vacuous."""
    assert corpus_reference(reference, rule), f"no fixture record exercises {rule.slug}"


def test_sliding_window_catches_a_burst_that_fixed_buckets_split(reference, savedsearches, shipped_evaluator):
    """Why the pipeline replaces the backend's `bin _time span=10m`: 3 deletions at 10:08, 10:09 and 10:11
    fall into two 10-minute buckets, but within one 10-minute window, which is what Sigma means."""
    mass = next(r for r in RULES if r.is_correlation)
    arn = "arn:aws:iam::111122223333:user/burst"
    records = [
        {
            "eventVersion": "1.10", "eventID": f"burst-{n}", "eventTime": f"2026-11-23T10:{minute}Z",
            "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser", "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "arn": arn}, "requestParameters": {"userName": f"u{n}"},
        }
        for n, minute in enumerate(("08:00", "09:30", "11:00"))
    ]
    expected = {(mass.id, (("userIdentity.arn", arn.lower()),), frozenset({"burst-0", "burst-1", "burst-2"}))}
    assert reference_result(reference.run(records), mass) == expected
    assert splunk_result(shipped_evaluator, shipped_search(savedsearches, mass), mass, records) == expected
    fixed_buckets = (
        '`cloudtrail_detection_pack_cloudtrail` eventSource="iam.amazonaws.com" eventName="DeleteUser"\n| bin _time span=10m\n'
        "| stats count as event_count by _time userIdentity.arn\n| search event_count >= 3"
    )
    assert shipped_evaluator.run(fixed_buckets, records) == []
