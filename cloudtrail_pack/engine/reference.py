"""The reference engine: Sigma rules evaluated by SQLite, through pySigma's SQLite backend.

Neither the query text nor the engine is ours: pySigma-backend-sqlite compiles each rule (correlations
included, as sliding-window plans) and Python's sqlite3 runs it over a table of the records. Every other
engine in this project is judged against this one. The table has one column per dotted field path of the
records (`userIdentity.arn`), declared COLLATE NOCASE so equality is case-insensitive as Sigma's is.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache

from sigma.backends.sqlite.runtime import execute_plan
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.pipelines.cloudtrail import pysigma_compat

from ..filters import apply_filters
from ..pack import Pack, PackRule
from .sqlite import TABLE, backend, quote


@dataclass(frozen=True)
class Alert:
    """A correlation match: which rule, for which group, on which events."""

    rule_id: str
    group: dict = field(hash=False)
    events: frozenset[str]


@dataclass
class Verdict:
    matches: dict[str, frozenset[str]]  # eventID -> ids of the base rules that match it
    alerts: list[Alert]  # one per sliding window that reached its condition

    def incidents(self) -> set[tuple[str, tuple, frozenset[str]]]:
        """Alerts of one rule and group whose windows share events, merged: (rule id, group, events).

        A sliding window fires once per qualifying event, so one burst gives several overlapping
        alerts; an analyst sees one incident, and that is what fixtures declare.
        """
        merged: list[tuple[str, tuple, set[str]]] = []
        for alert in self.alerts:
            group = tuple(sorted((k, str(v).lower()) for k, v in alert.group.items()))
            events = set(alert.events)
            for other in [m for m in merged if m[0] == alert.rule_id and m[1] == group and m[2] & events]:
                events |= other[2]
                merged.remove(other)
            merged.append((alert.rule_id, group, events))
        return {(r, g, frozenset(e)) for r, g, e in merged}


#: pySigma-backend-sqlite 2.0.0 chooses each later step of an ordered correlation strictly after the previous one
#: (`m.ts > <previous>`). CloudTrail's eventTime has whole seconds and a script removes a user's credentials and
#: deletes the user within one, so the pack reads the same second as in order (issue 20), in every target.
_STRICTLY_AFTER = re.compile(r"\bOR m\.ts > ")


def same_second_in_order(plan: dict) -> dict:
    """The correlation `plan` with each ordered step chosen at or after the previous one's time."""
    return json.loads(_STRICTLY_AFTER.sub("OR m.ts >= ", json.dumps(plan)))


def flatten(record: dict, prefix: str = "") -> dict[str, object]:
    """Dotted-path columns for a record; objects also keep their JSON text, arrays are JSON text."""
    out: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out[name] = json.dumps(value, sort_keys=True)
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = value
    return out


@lru_cache(maxsize=4096)
def _compiled_regex(pattern: str):
    return re.compile(pattern)


def _regexp(pattern: str, value) -> bool:
    return value is not None and _compiled_regex(pattern).search(str(value)) is not None


class ReferenceEngine:
    """Compile the pack once with the SQLite backend; run it over any list of records.

    Holds only the compiled SQL and correlation plans (plain data), so it can be sent to worker processes.
    """

    def __init__(self, pack: Pack, rules: list[PackRule] | None = None, filters: tuple = ()):
        """`filters`: local tuning (filters.LocalFilter), applied to the rules they name as the build does."""
        selected = rules if rules is not None else pack.rules
        sql = backend()
        rules_copy = [pysigma_compat.detached_copy(r.rule) for r in pack.rules]
        apply_filters(rules_copy, filters)
        collection = SigmaCollection(rules_copy)
        collection.resolve_rule_references()
        for rule in rules_copy:  # a correlation step (generate: false) is evaluated too
            pysigma_compat.keep_output(rule)
        wanted = {r.id for r in selected}
        self.queries: dict[str, str] = {}
        self.plans: dict[str, dict] = {}
        self.fields: set[str] = {"eventID", "eventTime"}
        self.unsupported: dict[str, str] = {}  # rule id -> why SQLite cannot evaluate it
        for rule in collection.rules:
            rule_id = str(rule.id)
            try:
                if isinstance(rule, SigmaCorrelationRule):
                    if rule_id in wanted:
                        self.plans[rule_id] = same_second_in_order(pysigma_compat.correlation_plan(sql, rule))
                        self.fields.update(f for fs in self.plans[rule_id]["required_fields"].values() for f in fs)
                else:
                    (query,) = sql.convert_rule(rule)
                    self.fields.update(sql.required_fields(rule))
                    if rule_id in wanted:
                        self.queries[rule_id] = query
            except SigmaError as e:  # e.g. an unresolved %placeholder%: no engine can evaluate it as written
                if rule_id in wanted:
                    self.unsupported[rule_id] = str(e)

    def only(self, rule_ids) -> "ReferenceEngine":
        """The same compiled engine, running only these rules (no second compilation)."""
        ids = set(rule_ids)
        narrowed = copy.copy(self)
        narrowed.queries = {k: v for k, v in self.queries.items() if k in ids}
        narrowed.plans = {k: v for k, v in self.plans.items() if k in ids}
        return narrowed

    def _connect(self, records: list[dict]) -> sqlite3.Connection:
        rows = [flatten(r) for r in records]
        # SQLite column names are case-insensitive: `responseElements.User.Arn` and `...user.arn` are one
        # column, exactly as a rule naming either one would see it.
        index: dict[str, int] = {}
        columns: list[str] = []
        for name in sorted(self.fields.union(*rows)):
            if name.lower() not in index:
                index[name.lower()] = len(columns)
                columns.append(name)
        db = sqlite3.connect(":memory:")
        db.create_function("REGEXP", 2, _regexp, deterministic=True)
        db.execute(f"CREATE TABLE {TABLE} ({', '.join(quote(c) + ' COLLATE NOCASE' for c in columns)})")
        placeholders = ", ".join("?" * len(columns))
        values = []
        for row in rows:
            line = [None] * len(columns)
            for k, v in row.items():
                line[index[k.lower()]] = v
            values.append(line)
        db.executemany(f"INSERT INTO {TABLE} VALUES ({placeholders})", values)
        return db

    def run(self, records: list[dict]) -> Verdict:
        db = self._connect(records)
        try:
            matches: dict[str, set[str]] = {str(r["eventID"]): set() for r in records}
            for rule_id, query in self.queries.items():
                for (event_id,) in db.execute(query.replace("SELECT *", 'SELECT "eventID"', 1)):
                    matches[str(event_id)].add(rule_id)
            alerts = []
            for rule_id, plan in self.plans.items():
                rows, _ = execute_plan(db, plan, include_events=False)
                for row in rows:
                    events = frozenset(e.split(":", 1)[1] for e in row["event_ids"])
                    alerts.append(Alert(rule_id, row["group_keys"], events))
        finally:
            db.close()
        return Verdict({k: frozenset(v) for k, v in matches.items()}, alerts)
