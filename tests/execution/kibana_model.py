"""How Kibana's detection engine runs a rule of the import file, and which alerts reach the analyst.

Every behaviour is read off the rule object as shipped (the NDJSON line) and modelled from Kibana's source,
elastic/kibana x-pack/solutions/security/plugins/security_solution/server/lib/detection_engine/rule_types/
(files at the commit named; [X] marks cite them below):

[SCHED]  The alerting task runs every `interval`; each run searches [now - from, now] (`to: now`)
         (create_security_rule_type_wrapper.ts @ 328b3b5eaa3d, tuple from `from`/`to`/`interval`).
[RANGE]  The time range is a filter on the primary timestamp, `timestamp_override` or @timestamp, both ends
         inclusive; with an override and `timestamp_override_fallback_disabled: false`, a document without the
         override field is searched on @timestamp (utils/build_events_query.ts @ 00cc0ec6756b,
         buildTimeRangeFilter; primary/secondary in create_security_rule_type_wrapper.ts). Query, threshold,
         EQL and ES|QL rules all use it (threshold/find_threshold_signals.ts @ a406368d5550,
         eql/build_eql_search_request.ts @ 0f79a0f25023, esql/build_esql_search_request.ts @ 0d3c168ca05f).
[EQLTS]  EQL orders and measures `maxspan` on the rule's `timestamp_field` (default @timestamp), not on the
         override (eql/eql.ts @ dcd7ae2c6eb5: `timestampField: ruleParams.timestampField`).
[ID]     A query or EQL event alert's id is sha256 of its source document's _id and _index and the rule
         (factories/utils/build_alert.ts @ aa6f9a64c14e, generateAlertId), so overlapping runs that find the
         same event write the same id and the bulk `create` of the duplicate is dropped. A non-aggregating
         ES|QL alert: hash of _id, _version, _index and the rule; an aggregating one (`stats`): hash of the
         run's time range, the query and the row's position, i.e. a new alert every run
         (esql/utils/generate_alert_id.ts @ 10e456df04b5; esql/esql.ts @ 012f5d9816b7 for
         computeIsESQLQueryAggregating).
[SEQ]    An EQL sequence writes a shell alert and one building-block alert per event; the building blocks' ids
         hash all the sequence's events, the shell's id hashes the building blocks, so the same sequence found
         again has the same ids (eql/build_alert_group_from_sequence.ts @ 04cd4f351779,
         factories/utils/generate_building_block_ids.ts @ 86b5f4b2750e). What the analyst triages is the shell.
[THR]    A threshold rule counts, per group of `threshold.field`, the matching documents of the run that are
         newer (on the aggregatable timestamp: the override if present, else @timestamp) than the last event
         of that group's previous alert, and alerts on each group with count >= value; the alert's time is its
         bucket's newest event. The history entry is dropped once that time falls before the run's range
         (threshold/threshold.ts @ d87dd41ffc5b, get_threshold_bucket_filters.ts @ 7d915d1e2e5d,
         build_signal_history.ts @ d7c5b032b0c6, utils.ts @ 931ea0187dc6 getSignalHistory,
         bulk_create_threshold_signals.ts @ 7d915d1e2e5d).
[SUPP]   Alert suppression (`alert_suppression`): the alerts of a run are grouped by the values of `group_by`
         (missing values: one group with `suppress`, each alert alone with `doNotSuppress`); an alert whose
         id already exists is dropped; one whose group has an open alert started within `duration` of the run
         is folded into it (kibana.alert.suppression.docs_count), else the group's first alert is created and
         the rest of the run's alerts of that group are folded into it (utils/bulk_create_suppressed_alerts_in_memory.ts
         @ 95077bd1e643, utils/bulk_create_with_suppression.ts @ fd7d1d119c31, rule_registry
         create_persistence_rule_type_wrapper.ts: `ALERT_START >= now - duration`).
[FLEET]  event.ingested is the ingest time truncated to the second (Fleet final pipeline,
         x-pack/platform/plugins/shared/fleet/server/constants/fleet_es_assets.ts @ fdfeb2bb4dc1).

Assumptions: runs start on time (the tier tries several phases of the schedule, timeline.PHASES); an event
is searchable from its delivery time on (timeline.Delivered.ingested); no alert is closed by the analyst
during the replay; a run finds at most max_signals alerts (never reached by the fixtures).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from elastic_ingest import ecs_field_values, to_ecs
from evaluators import esql, lucene
from timeline import Alert, Case, Delivered, schedule

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "elastic"))
import elastic_eql  # noqa: E402  (tests/elastic: the eql package, as the Elastic tests run it)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ModelError(Exception):
    """A rule setting outside what the model knows: the model refuses rather than guessing."""


def duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([smhd])", text)
    if not m:
        raise ModelError(f"duration {text!r} is outside the modelled subset")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _when(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class KibanaRule:
    """The settings of one shipped rule that decide when it alerts."""

    rule: dict

    @property
    def name(self) -> str:
        return self.rule["name"]

    @property
    def interval(self) -> timedelta:
        return duration(self.rule["interval"])

    @property
    def lookback(self) -> timedelta:
        """[SCHED] `from: now-<d>` with `to: now`."""
        if self.rule.get("to", "now") != "now" or not self.rule["from"].startswith("now-"):
            raise ModelError(f"{self.name}: from/to {self.rule['from']}/{self.rule.get('to')}")
        return duration(self.rule["from"][4:])

    @property
    def primary(self) -> str:
        return self.rule.get("timestamp_override") or "@timestamp"

    @property
    def fallback(self) -> bool:
        """[RANGE] @timestamp for documents without the override field."""
        return self.primary != "@timestamp" and not self.rule.get("timestamp_override_fallback_disabled", False)

    @property
    def is_sequence(self) -> bool:
        return self.rule["type"] == "eql" and self.rule["query"].lstrip().lower().startswith("sequence")

    @property
    def is_aggregating(self) -> bool:
        """A `stats` command makes an ES|QL query aggregating (computeIsESQLQueryAggregating)."""
        return self.rule["type"] == "esql" and re.search(r"\|\s*stats\b", self.rule["query"], re.I) is not None

    @property
    def suppression(self) -> dict | None:
        s = self.rule.get("alert_suppression")
        if s is None:
            return None
        if self.rule["type"] == "threshold":
            raise ModelError("threshold alert suppression is not modelled")
        return s

    @property
    def suppression_window(self) -> timedelta | None:
        s = self.suppression
        if s is None or "duration" not in s:
            return None
        return timedelta(seconds=s["duration"]["value"] * _UNITS[s["duration"]["unit"]])


# ------------------------------------------------------------------------------------------- documents
@dataclass(frozen=True)
class Doc:
    delivered: Delivered
    doc: dict
    times: dict = field(default_factory=dict, compare=False, hash=False)  # field -> datetime, parsed once

    @property
    def event_id(self) -> str:
        return self.delivered.event_id

    def time(self, name: str) -> datetime | None:
        if name not in self.times:
            values = ecs_field_values(self.doc, name)
            self.times[name] = _when(values[0]) if values else None
        return self.times[name]


_DOCUMENTS: dict[str, tuple[Doc, ...]] = {}


def documents(case: Case) -> tuple[Doc, ...]:
    """The case's records as the integration indexes them, each with its ingest time (cached per case)."""
    if case.id not in _DOCUMENTS:
        _DOCUMENTS[case.id] = _documents(case)
    return _DOCUMENTS[case.id]


def _documents(case: Case) -> tuple[Doc, ...]:
    out = []
    for d in case.events:
        doc = to_ecs(d.record, ingested_at=_iso(d.ingested))
        # [FLEET] a converter that predates event.ingested: set it as Fleet's final pipeline does
        doc.setdefault("event", {}).setdefault("ingested", d.ingested.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"))
        out.append(Doc(d, doc))
    return tuple(out)


def range_time(rule: KibanaRule, d: Doc) -> datetime | None:
    """[RANGE] The time the range filter reads: the primary timestamp, or @timestamp if it falls back."""
    t = d.time(rule.primary)
    if t is None and rule.fallback:
        t = d.time("@timestamp")
    return t


def aggregatable_time(rule: KibanaRule, d: Doc) -> datetime:
    """[THR] kibana.combined_timestamp: the override when the document has it, else @timestamp."""
    return d.time(rule.primary) or d.time("@timestamp")


# ------------------------------------------------------------------------------------ query evaluation
_MATCHES: dict[tuple, frozenset[str]] = {}


def matches(rule: KibanaRule, case: Case) -> frozenset[str]:
    """Event ids a single-event query matches in the file. Matching a document does not depend on the other
    documents or on when it was ingested (none of these queries read event.ingested), so it is computed once
    per query and file, on the documents of the case."""
    key = (rule.rule["type"], rule.rule["query"], str(case.fixture.path))
    if key not in _MATCHES:
        docs = [d.doc for d in documents(case)]
        kind = rule.rule["type"]
        if kind == "query":
            hit = [d for d in docs if lucene.matches(rule.rule["query"], d)]
        elif kind == "eql":
            hit = [d for r in elastic_eql.run(rule.rule["query"], docs) for d in r]
        elif kind == "esql":
            hit = esql.run(rule.rule["query"], docs).documents
        else:
            raise ModelError(kind)
        _MATCHES[key] = frozenset(d["event"]["id"] for d in hit)
    return _MATCHES[key]


#: A stage: the pack writes each on its own line (a regular expression inside may hold `]`).
_STAGE = re.compile(r"^\s*\[\s*(any where .*)\]\s*(?:with runs\s*=\s*\d+)?\s*$", re.M)
_SEQUENCES: dict[tuple, list[tuple[str, ...]]] = {}


def sequences(rule: KibanaRule, visible: list[Doc]) -> list[tuple[str, ...]]:
    """The sequences Elasticsearch returns over the visible documents, as ordered event ids ([EQLTS]: ordered
    on @timestamp). Only documents that match a stage can take part, so the sequence runs on those (and is
    cached by that set)."""
    query = rule.rule["query"]
    stages = {m.group(1) for m in _STAGE.finditer(query)}
    candidates = [d for d in visible if any(_stage_matches(s, d) for s in stages)]
    key = (query, frozenset(d.event_id for d in candidates))
    if key not in _SEQUENCES:
        found = elastic_eql.run(query, [d.doc for d in candidates]) if len(candidates) > 0 else []
        _SEQUENCES[key] = [tuple(doc["event"]["id"] for doc in seq) for seq in found if not elastic_eql.concurrent(seq)]
    return _SEQUENCES[key]


_STAGE_CACHE: dict[tuple[str, str], bool] = {}


def _stage_matches(stage: str, d: Doc) -> bool:
    key = (stage, d.event_id)
    if key not in _STAGE_CACHE:
        _STAGE_CACHE[key] = bool(elastic_eql.run(stage, [d.doc]))
    return _STAGE_CACHE[key]


_ROWS: dict[tuple, list[tuple[tuple, frozenset[str]]]] = {}


def esql_rows(rule: KibanaRule, visible: list[Doc], by: list[str]) -> list[tuple[tuple, frozenset[str]]]:
    """(group values, event ids counted) of each row of an aggregating ES|QL query over the visible documents."""
    key = (rule.rule["query"], frozenset(d.event_id for d in visible))
    if key not in _ROWS:
        rows = esql.run(rule.rule["query"], [d.doc for d in visible]).rows if visible else []
        _ROWS[key] = [
            (tuple(row.get(f) for f in by), frozenset(m["event"]["id"] for m in esql.row_events(row))) for row in rows
        ]
    return _ROWS[key]


# ------------------------------------------------------------------------------------------- alerts
@dataclass
class _Alert:
    id: object
    fired: datetime
    events: set[str]
    key: tuple | None = None


@dataclass
class Replay:
    """The alerts of one rule over one case, and the runs that produced them."""

    alerts: list[_Alert] = field(default_factory=list)
    runs: int = 0

    def analyst_alerts(self, group_of) -> list[Alert]:
        return [Alert(a.fired, frozenset(a.events), group_of(a)) for a in self.alerts]


class _Writer:
    """[ID] dedupe by alert id, then [SUPP] suppression."""

    def __init__(self, rule: KibanaRule):
        self.rule = rule
        self.ids: set = set()
        self.replay = Replay()
        self.suppression, self.window = rule.suppression, rule.suppression_window

    def write(self, run: datetime, candidates: list[tuple[object, frozenset[str], tuple | None]]) -> None:
        window, suppression = self.window, self.suppression
        for alert_id, events, key in candidates:
            if alert_id in self.ids:
                continue  # the same alert again: the bulk create of an existing id is dropped
            self.ids.add(alert_id)
            if suppression is not None and key is not None:
                missing = any(v is None for v in key)
                if not (missing and suppression.get("missing_fields_strategy") == "doNotSuppress"):
                    start = run - window if window is not None else run  # no duration: per rule execution
                    open_ = [a for a in self.replay.alerts if a.key == key and a.fired >= start]
                    if open_:
                        open_[-1].events |= events  # folded into the open alert of its group
                        continue
            self.replay.alerts.append(_Alert(alert_id, run, set(events), key))


def replay(rule: KibanaRule, case: Case, phase: timedelta, group_fields: list[str]) -> Replay:
    """Run `rule` over the case every interval ([SCHED], offset by `phase`) and collect its alerts."""
    docs = documents(case)
    if not docs:
        return Replay()
    first = min(d.delivered.ingested for d in docs)
    lookback, aggregating = rule.lookback, rule.is_aggregating
    runs = schedule(first, case.last_ingested + lookback, rule.interval, phase)
    timed = [(d, range_time(rule, d)) for d in docs]
    writer = _Writer(rule)
    history: dict[tuple, datetime] = {}  # [THR] threshold signal history: group -> last signalled time
    single = matches(rule, case) if rule.rule["type"] in ("query", "eql", "esql") and not (rule.is_sequence or aggregating) else None
    previous: list[Doc] | None = None
    for run in runs:
        writer.replay.runs += 1
        start = run - lookback
        # [RANGE] both ends inclusive; an event is searchable once delivered
        visible = [d for d, t in timed if d.delivered.ingested <= run and t is not None and start <= t <= run]
        if not visible or (visible == previous and not aggregating):
            previous = visible
            continue  # nothing to find, or the same documents as the last run: the same alert ids, all dropped
        previous = visible
        if single is not None:
            writer.write(run, [(("event", d.event_id), frozenset([d.event_id]), _key(rule, d.doc)) for d in visible if d.event_id in single])
        elif rule.is_sequence:
            by_id = {d.event_id: d for d in visible}
            cands = []
            for seq in sequences(rule, visible):
                cands.append((("sequence", seq), frozenset(seq), _key(rule, by_id[seq[0]].doc)))
            writer.write(run, cands)
        elif rule.is_aggregating:
            rows = esql_rows(rule, visible, group_fields)
            writer.write(run, [(("row", run, i), events, values) for i, (values, events) in enumerate(rows)])
        elif rule.rule["type"] == "threshold":
            writer.write(run, _threshold_run(rule, case, visible, start, run, history))
        else:
            raise ModelError(f"{rule.name}: rule type {rule.rule['type']}")
    return writer.replay


def _key(rule: KibanaRule, doc: dict) -> tuple | None:
    s = rule.rule.get("alert_suppression")
    if s is None:
        return None
    return tuple((ecs_field_values(doc, f) or [None])[0] for f in s["group_by"])


def _threshold_run(rule: KibanaRule, case: Case, visible: list[Doc], start: datetime, run: datetime, history: dict) -> list:
    """[THR] one run of a threshold rule, updating the signal history in place."""
    threshold = rule.rule["threshold"]
    fields = threshold["field"] if isinstance(threshold["field"], list) else [threshold["field"]]
    if threshold.get("cardinality"):
        raise ModelError("threshold cardinality is not modelled")
    for group in [g for g, last in history.items() if last <= start]:
        del history[group]  # getSignalHistory: entries whose last signal is before the range are dropped
    hit = matches(KibanaRule({**rule.rule, "type": "query"}), case)
    buckets: dict[tuple, list[Doc]] = {}
    for d in visible:
        if d.event_id not in hit:
            continue
        values = tuple((ecs_field_values(d.doc, f) or [None])[0] for f in fields)
        if any(v is None for v in values):
            continue  # a terms aggregation has no bucket for a missing value
        if values in history and aggregatable_time(rule, d) <= history[values]:
            continue  # get_threshold_bucket_filters: already counted in an earlier alert of this group
        buckets.setdefault(values, []).append(d)
    out = []
    for values, members in buckets.items():
        if len(members) >= threshold["value"]:
            history[values] = max(aggregatable_time(rule, d) for d in members)
            out.append((("threshold", run, values), frozenset(d.event_id for d in members), None))
    return out
