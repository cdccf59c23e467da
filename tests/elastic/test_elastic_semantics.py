"""Proof of meaning: every query shipped in the Kibana import file (read back from the NDJSON) agrees with
the reference engine on every fixture record, evaluated over the records as the AWS integration indexes them
(`elastic_ingest.to_ecs`, tests/elastic_ingest.py).

* Lucene query rules: tests/evaluators/lucene.py (luqum, Elasticsearch keyword/flattened semantics);
* EQL rules: the `eql` package's PythonEngine (tests/elastic/elastic_eql.py);
* ES|QL rules: tests/evaluators/esql.py;
* correlations: the ES|QL rule is run over look-back windows of event time ending on each minute (the
  query's own first_seen/last_seen bound decides); the EQL sequence over the whole file. They must alert for
  exactly the groups the reference engine alerts for, only on events of the reference's incidents, and
  touch every reference incident. (How Kibana schedules them on ingest time, with late events, is the
  execution tier's subject: tests/execution/test_kibana_execution.py.)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from sigma.pipelines.cloudtrail.ecs_fields import ecs_field

from elastic_ingest import ecs_field_values, to_ecs
from evaluators import esql, lucene
from fixture_corpus import FIXTURE_FILES

import elastic_eql

IDS = [str(f.path) for f in FIXTURE_FILES]
FIXTURES_BY_PATH = {str(f.path): f for f in FIXTURE_FILES}

pytestmark = pytest.mark.skipif(not FIXTURE_FILES, reason="fixtures/manifest.yml not written yet")


def _when(doc) -> datetime:
    return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))


def _duration(text: str) -> timedelta:
    n, unit = int(text[:-1]), text[-1]
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})


@pytest.fixture(scope="module")
def corpus(reference):
    out = {}
    for f in FIXTURE_FILES:
        docs = [to_ecs(r) for r in f.records]
        out[str(f.path)] = (docs, reference.run(f.records))
    return out


def _event_ids(docs) -> frozenset[str]:
    return frozenset(d["event"]["id"] for d in docs)


def matching_documents(rule: dict, docs: list[dict]) -> list[dict]:
    if rule["type"] == "query":
        return [d for d in docs if lucene.matches(rule["query"], d)]
    if rule["type"] == "eql":
        return [d for result in elastic_eql.run(rule["query"], docs) for d in result]
    if rule["type"] == "esql":
        return esql.run(rule["query"], docs).documents
    raise AssertionError(rule["type"])


_TARGET = {"query": "lucene", "eql": "eql", "esql": "esql"}  # Kibana rule type -> the pack's target


def _is_correlation(rule) -> bool:
    return "sequence" in rule["query"][:9] or "| stats " in rule["query"]


def _base_rules(rules):
    return [r for r in rules if not _is_correlation(r)]


def _correlation_rules(rules):
    return [r for r in rules if _is_correlation(r)]


@pytest.mark.parametrize("path", IDS)
def test_single_event_rules_match_exactly_the_reference_records(path, corpus, shipped_rules):
    docs, verdict = corpus[path]
    fixture = next(f for f in FIXTURE_FILES if str(f.path) == path)
    disagreements = []
    for rule in _base_rules(shipped_rules):
        sigma_id = rule["meta"]["sigma_id"]
        reference = frozenset(eid for eid, ids in verdict.matches.items() if sigma_id in ids)
        expected = fixture.expected_for(_TARGET[rule["type"]], sigma_id, reference)  # manifest `differences:`
        got = _event_ids(matching_documents(rule, docs))
        if got != expected:
            disagreements.append((rule["name"], sorted(got - expected), sorted(expected - got)))
    assert disagreements == []


# ------------------------------------------------------------------------------------- correlations
def _schedule(rule: dict, docs: list[dict]):
    """Windows of event time over the file: (window start, end) ending on every minute, `from` long."""
    if not docs:
        return
    step, lookback = timedelta(minutes=1), _duration(rule["from"].removeprefix("now-"))
    first, last = min(map(_when, docs)), max(map(_when, docs)) + lookback
    run = first.replace(second=0, microsecond=0)
    while run <= last + step:
        yield run - lookback, run
        run += step


def _group(doc, fields) -> tuple:
    return tuple(str((ecs_field_values(doc, f) or [None])[0]).lower() for f in fields)


def esql_alerts(rule: dict, docs: list[dict], fields: list[str]) -> list[tuple[tuple, frozenset[str]]]:
    alerts = []
    for start, end in _schedule(rule, docs):
        window = [d for d in docs if start <= _when(d) <= end]
        if not window:
            continue
        for row in esql.run(rule["query"], window).rows:
            alerts.append((tuple(str(row[f]).lower() for f in fields), _event_ids(esql.row_events(row))))
    return alerts


def eql_alerts(rule: dict, docs: list[dict], fields: list[str]) -> list[tuple[tuple, frozenset[str]]]:
    return [(_group(seq[0], fields), _event_ids(seq)) for seq in elastic_eql.run(rule["query"], docs) if not elastic_eql.concurrent(seq)]


@pytest.mark.parametrize("path", IDS)
def test_correlation_rules_alert_for_the_reference_incidents(path, corpus, shipped_rules, pack):
    docs, verdict = corpus[path]
    problems = []
    for rule in _correlation_rules(shipped_rules):
        sigma_id = rule["meta"]["sigma_id"]
        group_by = list(pack.by_id(sigma_id).rule.group_by or [])
        fields = [ecs_field(name) for name in group_by]
        target = "esql" if rule["type"] == "esql" else "eql"
        declared = [a.events for a in FIXTURES_BY_PATH[path].alerts if a.rule_id == sigma_id and not a.expected_in(target)]
        incidents = defaultdict(set)
        for rule_id, group, events in verdict.incidents():
            if rule_id == sigma_id and frozenset(events) not in declared:
                incidents[tuple(dict(group)[g] for g in group_by)] |= set(events)
        if rule["type"] == "esql":
            alerts = esql_alerts(rule, docs, fields)
        else:
            alerts = eql_alerts(rule, docs, fields)
        alerted = {g for g, _ in alerts}
        if alerted != set(incidents):
            problems.append((rule["name"], "groups", sorted(alerted), sorted(incidents)))
        for group, events in alerts:
            if not events <= incidents.get(group, set()):
                problems.append((rule["name"], "events outside the incident", group, sorted(events - incidents.get(group, set()))))
        for group, events in incidents.items():
            if not any(g == group and e & events for g, e in alerts):
                problems.append((rule["name"], "incident without alert", group))
    assert problems == []


def test_the_corpus_exercises_every_shipped_rule(corpus, shipped_rules):
    """Agreement on records that no rule matches would prove little: each shipped rule fires somewhere."""
    silent = []
    for rule in _base_rules(shipped_rules):
        if not any(matching_documents(rule, docs) for docs, _ in corpus.values()):
            silent.append(rule["name"])
    fields = ["aws.cloudtrail.user_identity.arn"]
    for rule in _correlation_rules(shipped_rules):
        run = esql_alerts if rule["type"] == "esql" else eql_alerts
        if not any(run(rule, docs, fields) for docs, _ in corpus.values()):
            silent.append(rule["name"])
    assert silent == []
