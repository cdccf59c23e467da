"""The Kibana import file as Kibana runs it: every rule of the NDJSON a release writes, replayed by
kibana_model over each fixture file delivered 0-15 minutes late (timeline.SCENARIOS), with the schedule
at each of timeline.PHASES. What counts is what reaches the analyst: the alerts (for an EQL sequence, its
shell alert), after Kibana's deduplication, threshold signal history and alert suppression.

Asserted per shipped rule and scenario, from fixtures/manifest.yml only:
* a single-event rule carries every attack event in an alert, no other event, and no event twice;
* a correlation raises exactly one alert per expected burst, none for anything else, and puts no event in
  two alerts.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sigma.correlations import SigmaCorrelationType

from release_helpers import release_for

from cloudtrail_pack.artifacts import elastic
from cloudtrail_pack.artifacts.elastic import read_kibana_rules, write_kibana_rules
from cloudtrail_pack.pack import load_pack
from kibana_model import KibanaRule, Replay, replay
from sigma.pipelines.cloudtrail.ecs_fields import ecs_field
from timeline import CASES, PHASES, SCENARIOS, Alert, Case, alerts_per_event, burst_alerts, missed_events, unexpected_events

PACK = load_pack()


def _shipped() -> list[dict]:
    with tempfile.TemporaryDirectory() as out:
        return read_kibana_rules(write_kibana_rules(release_for(PACK, elastic), Path(out)))


SHIPPED = _shipped()
BASE = [r for r in SHIPPED if not PACK.by_id(r["meta"]["sigma_id"]).is_correlation]
CORRELATIONS = [r for r in SHIPPED if PACK.by_id(r["meta"]["sigma_id"]).is_correlation]
SCENARIO_IDS = [str(s) for s in SCENARIOS]
TARGET = {"query": "lucene", "eql": "eql", "esql": "esql"}  # Kibana rule type -> the pack's target (manifest `differences:`)


def _group_fields(rule: dict) -> list[tuple[str, str]]:
    """(Sigma group-by field, its ECS field) of a correlation."""
    sigma = PACK.by_id(rule["meta"]["sigma_id"]).rule
    return [(name, ecs_field(name)) for name in getattr(sigma, "group_by", None) or []]


_REPLAYS: dict[tuple, Replay] = {}


def alerts(rule: dict, case: Case, phase: timedelta) -> list[Alert]:
    """The alerts the analyst receives (cached: the assertions below share the replays)."""
    fields = _group_fields(rule)
    key = (rule["rule_id"], case.id, phase)
    if key not in _REPLAYS:
        _REPLAYS[key] = replay(KibanaRule(rule), case, phase, [e for _, e in fields])
    by_id = {d.event_id: d.record for d in case.events}

    def group_of(alert) -> tuple:
        record = by_id[sorted(alert.events)[0]]
        return tuple(sorted((name, str(_value(record, name)).lower()) for name, _ in fields))

    return _REPLAYS[key].analyst_alerts(group_of)


def _value(record: dict, path: str):
    node = record
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def cases(scenario: str) -> list[Case]:
    return [c for c in CASES if str(c.scenario) == scenario]


def runs(rule: dict, scenario: str):
    for case in cases(scenario):
        for phase in PHASES:
            yield case, phase, alerts(rule, case, phase)


def where(case: Case, phase: timedelta) -> str:
    return f"{case.fixture.path} phase {phase}"


def twice(found: list[Alert]) -> list[str]:
    return sorted(e for e, n in alerts_per_event(found).items() if n > 1)


def base_failures(rule: dict, case: Case, found: list[Alert]) -> dict[str, list]:
    """{property: what breaks it} for a single-event rule's alerts on one case (empty lists: it holds)."""
    expected = case.expected_events(rule["meta"]["sigma_id"], TARGET[rule["type"]])
    return {
        "an attack event is carried by no alert": missed_events(found, expected),
        "an alert carries an event the rule must not alert on": unexpected_events(found, expected),
        "an event is in two alerts": twice(found),
    }


def correlation_failures(rule: dict, case: Case, found: list[Alert]) -> dict[str, list]:
    bursts = case.expected_bursts(rule["meta"]["sigma_id"], TARGET[rule["type"]])
    return {
        "a burst does not raise exactly one alert": [
            f"{dict(b.group)}: {n} alerts" for b in bursts if (n := len(burst_alerts(found, b))) != 1
        ],
        "an alert outside every expected burst": [
            (dict(a.group), sorted(a.events))
            for a in found
            if not any(dict(a.group) == dict(b.group) and a.events <= b.events for b in bursts)
        ],
        "an event is in two alerts": twice(found),
    }


def broken(rule: dict, scenario: str, check) -> dict[str, dict]:
    """{property: {"<file> phase <phase>": what breaks it}} over every case of the scenario and every phase."""
    found: dict[str, dict] = {}
    for case, phase, alerted in runs(rule, scenario):
        for prop, what in check(rule, case, alerted).items():
            if what:
                found.setdefault(prop, {})[where(case, phase)] = what
    return found


# One test per shipped rule and scenario: each replay is computed once and every property is asserted on it.
@pytest.mark.parametrize("scenario", SCENARIO_IDS)
@pytest.mark.parametrize("rule", BASE, ids=[r["name"] for r in BASE])
def test_every_attack_event_is_in_one_alert_and_no_other_event_is(rule, scenario):
    assert broken(rule, scenario, base_failures) == {}


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
@pytest.mark.parametrize("rule", CORRELATIONS, ids=[r["name"] for r in CORRELATIONS])
def test_every_burst_raises_exactly_one_alert_and_nothing_else_does(rule, scenario):
    assert broken(rule, scenario, correlation_failures) == {}


# --------------------------------------------------------------------------- why no threshold rule
def _threshold_variant(lookback: str) -> dict:
    """The correlation as a Kibana threshold rule on the pack's schedule (event.ingested, every 5m)."""
    correlation = next(r for r in PACK.rules if r.is_correlation)
    (base_id,) = [str(ref.rule.id) for ref in correlation.rule.rules]
    base = next(r for r in SHIPPED if r["meta"]["sigma_id"] == base_id and r["type"] == "query")
    return {
        **{k: base[k] for k in ("query", "language", "index", "timestamp_override", "timestamp_override_fallback_disabled")},
        "type": "threshold",
        "name": f"threshold over {lookback}",
        "rule_id": f"threshold-{lookback}",
        "meta": {"sigma_id": correlation.id},
        "threshold": {"field": [ecs_field(g) for g in correlation.rule.group_by], "value": int(correlation.rule.condition.count)},
        "interval": "5m",
        "from": f"now-{lookback}",
        "to": "now",
    }


@pytest.mark.parametrize("lookback", ["15m", "30m"])
def test_a_threshold_rule_on_ingest_time_misses_a_burst_or_alerts_on_a_non_burst(lookback):
    """Why the correlation ships as EQL and ES|QL only: a threshold rule counts a run's events, on ingest time.
    Looking back timespan + interval (15m) it misses a burst delivered over more than that, and alerts on
    deletions 10 min 1 s apart (correlation/mass_deletion_window_edges.json: a run sees all three); looking back
    timespan + 15m delay + interval (30m, enough for every burst) it alerts on deletions 36 minutes apart."""
    rule = _threshold_variant(lookback)
    sigma_id = rule["meta"]["sigma_id"]
    problems = []
    for case in CASES:
        for phase in PHASES:
            found = alerts(rule, case, phase)
            bursts = case.expected_bursts(sigma_id)
            problems += [("missed", where(case, phase)) for b in bursts if len(burst_alerts(found, b)) != 1]
            problems += [
                ("stray", where(case, phase))
                for a in found
                if not any(dict(a.group) == dict(b.group) and a.events <= b.events for b in bursts)
            ]
    assert {kind for kind, _ in problems} == {"15m": {"missed", "stray"}, "30m": {"stray"}}[lookback]


# ------------------------------------------------------------------------------ why alert suppression
def _burst_case() -> Case:
    return next(c for c in CASES if str(c.fixture.path) == "correlation/mass_deletion_threshold_reached.json" and str(c.scenario) == "delay-0m")


_COUNTING = [r for r in CORRELATIONS if PACK.by_id(r["meta"]["sigma_id"]).rule.type != SigmaCorrelationType.TEMPORAL_ORDERED]


@pytest.mark.parametrize("rule", _COUNTING, ids=[r["name"] for r in _COUNTING])
def test_without_suppression_a_correlation_alerts_more_than_once_per_burst(rule):
    """Why the counting correlations carry alert_suppression: an aggregating ES|QL alert's id is new every run, and a
    burst of 4 deletions holds two EQL sequences (1-2-3, 2-3-4) with different ids. (The two-step ordered sequences,
    credentials then deletion and created then deleted, find one sequence per group, the same one each run: their
    suppression only merges a repeated attempt.)"""
    unsuppressed = {k: v for k, v in rule.items() if k != "alert_suppression"}
    unsuppressed["rule_id"] += "-unsuppressed"
    case = _burst_case()
    (burst,) = case.expected_bursts(rule["meta"]["sigma_id"])
    assert len(burst_alerts(alerts(unsuppressed, case, PHASES[0]), burst)) > 1
