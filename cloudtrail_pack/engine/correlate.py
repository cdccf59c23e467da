"""Correlations in one pass, meaning what the reference engine's correlation plans mean.

The reference (`reference.py`) runs pySigma's SQLite correlation plan (sigma/backends/sqlite/correlation.py
in pySigma-backend-sqlite 2.0.0) over every counted record at once: one sliding window per distinct
event time of a group, evidence gathered per window, then `Verdict.incidents` merges windows that share
events. That costs a table of every counted record and, for a burst, work quadratic in its length.
Here each counted event is reduced, in the worker, to what the plan reads of it -- event id as text,
the plan's timestamp (`ROUND((julianday(eventTime) - 2440587.5) * 86400000) / 1000.0`, computed by SQLite
itself), the group-by values as the plan keys them (ASCII-lower-cased text), the counted field's value --
and the parent appends that row to a temporary on-disk SQLite table. At the end the rows are read back
sorted by group and time (SQLite's external sort: memory stays flat however many events were counted)
and each group is swept once:

- `event_count`, `value_count`, `temporal` with a plain condition: the window ending at each distinct
  time `t` holds the group's events with time in `[t - timespan, t]`; a window meets the condition on its
  count of distinct (event, time), of distinct non-null values (ASCII case-insensitive, as COUNT(DISTINCT
  v COLLATE NOCASE)), or of distinct rules; its evidence is every event in it. Windows are contiguous in
  time order, so merging those that share events is a running union: linear.
- `temporal_ordered` with an extended condition of rules joined by `and`/`or`: for each conjunction of
  the condition (its rules in the correlation's order), the earliest event of each rule in the window,
  each later than the previous one; its evidence is the events at those times. Windows sharing events
  are merged with a union-find.

Any other correlation (other types, `not` in a condition, aliases, correlations of correlations, the
ordered type with a plain count condition) is left to the reference engine over the counted records.
"""

from __future__ import annotations

import bisect
import itertools
import sqlite3
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

from .columns import column_getter
from .sqlite_values import fold

if TYPE_CHECKING:  # pySigma is imported where a plan is built, not where one runs (a cached plan: plan_cache.py)
    from sigma.correlations import SigmaCorrelationRule

_OPS = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}
_TIMESTAMP = "SELECT ROUND((julianday(?) - 2440587.5) * 86400000) / 1000.0"


class Unsupported(Exception):
    """The correlation's shape is left to the reference engine."""


class Uncountable(ValueError):
    """A matched record a correlation cannot count (its time is not a time, a value SQLite cannot hold):
    the reference engine leaves it out too; the scan names it."""


@dataclass(frozen=True)
class Sweep:
    """One correlation rule as the sweep evaluates it (plain data: it goes to the workers)."""

    rule_id: str
    kind: str  # event_count, value_count, temporal, temporal_ordered
    slots: tuple[str, ...]  # the rules it counts, in the rule's order
    group_by: tuple[str, ...]
    span: float  # seconds
    op: str | None  # plain condition: operator and count
    count: float | None
    field: str | None  # value_count: the field whose distinct values are counted
    clauses: tuple[tuple[int, ...], ...] | None  # extended condition: its conjunctions, as slot numbers

    @classmethod
    def of(cls, rule: SigmaCorrelationRule) -> "Sweep":
        from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition

        kind = rule.type.name.lower()
        if rule.aliases.aliases:
            raise Unsupported("field aliases")
        slots = []
        for ref in rule.rules:
            if isinstance(ref.rule, SigmaCorrelationRule):
                raise Unsupported("a correlation of correlations")
            slots.append(str(ref.rule.id))
        condition = rule.condition
        op = count = field = clauses = None
        if isinstance(condition, SigmaExtendedCorrelationCondition):
            if kind != "temporal_ordered":
                raise Unsupported(f"{kind} with an extended condition")
            names = {}
            for i, ref in enumerate(rule.rules):
                names[ref.reference] = i
                names[str(ref.rule.name or ref.rule.id)] = i
            clauses = tuple(tuple(sorted({names[r] for r in c})) for c in _dnf(condition.parsed))
        else:
            if kind not in ("event_count", "value_count", "temporal"):
                raise Unsupported(f"{kind} with a count condition")
            op, count = condition.op.name.lower(), condition.count
            field = condition.fieldref
            if op not in _OPS or (kind == "value_count") != bool(field):
                raise Unsupported(f"condition {op}")
        if rule.timespan.seconds <= 0:
            raise Unsupported("no positive timespan")
        return cls(str(rule.id), kind, tuple(slots), tuple(rule.group_by or ()), float(rule.timespan.seconds),
                   op, count, field, clauses)


def _dnf(node) -> list[set[str]]:
    """The condition as an OR of ANDs of rule references (no NOT: the sweep does not evaluate it)."""
    from sigma.correlations import CorrelationConditionAND, CorrelationConditionOR, SigmaRuleReference

    if isinstance(node, SigmaRuleReference):
        return [{node.reference}]
    if isinstance(node, CorrelationConditionOR):
        return [c for arg in node.args for c in _dnf(arg)]
    if isinstance(node, CorrelationConditionAND):
        out = [set()]
        for arg in node.args:
            out = [a | b for a in out for b in _dnf(arg)]
        return out
    raise Unsupported("a condition with not")


# --------------------------------------------------------------------------------------------------
# In the worker: a counted event reduced to what the plan reads of it
# --------------------------------------------------------------------------------------------------


class _Clock:
    _db: sqlite3.Connection | None = None

    @classmethod
    @lru_cache(maxsize=65536)
    def seconds(cls, value: str):
        if cls._db is None:
            cls._db = sqlite3.connect(":memory:")
        return cls._db.execute(_TIMESTAMP, (value,)).fetchone()[0]


def timestamp(value) -> float | None:
    """The plan's event time in seconds (None where SQLite cannot read the time)."""
    return _Clock.seconds(value) if isinstance(value, str) else None


def _payload_value(v, field: str):
    """A column value as the plan's json_object payload keeps it (an infinite REAL becomes NULL)."""
    if v.__class__ is float and (v != v or abs(v) > 1.7976931348623157e308):
        return None
    if v.__class__ is int and not -(1 << 63) <= v < (1 << 63):
        raise Uncountable(f"{field} {v} is outside SQLite's 64-bit integers")
    return v


def _group_key(v):
    return v.lower() if v.__class__ is str and v.isascii() else fold(v) if v.__class__ is str else v


class Reducer:
    """Turns a matched record into the rows a sweep needs: (sweep, slot, eid, ts, eventTime, value, *group)."""

    def __init__(self, sweeps: list[Sweep]):
        self.sweeps = sweeps
        self.by_rule: dict[str, list[tuple[int, int]]] = {}
        for n, sweep in enumerate(sweeps):
            for slot, rule_id in enumerate(sweep.slots):
                self.by_rule.setdefault(rule_id, []).append((n, slot))
        self.getters = {f: column_getter(f) for s in sweeps for f in (*s.group_by, s.field) if f}
        self.width = max((len(s.group_by) for s in sweeps), default=0)

    def rows(self, rule_ids, record: dict, event_id: str, event_time: str) -> list[tuple]:
        """Rows of `Store.width` group columns (the unused ones None); raises Uncountable for a record
        some sweep counts that it cannot place (its eventTime is not a time SQLite reads) or hold."""
        out = []
        ts = None
        for rule_id in rule_ids:
            for n, slot in self.by_rule.get(rule_id, ()):
                if ts is None:
                    ts = timestamp(event_time)
                    if ts is None:
                        raise Uncountable(f"eventTime {event_time!r} is not a time")
                sweep = self.sweeps[n]
                group = []
                for f in sweep.group_by:
                    g = _payload_value(self.getters[f](record), f)
                    if g is None:
                        break
                    group.append(_group_key(g))
                else:
                    value = _payload_value(self.getters[sweep.field](record), sweep.field) if sweep.field else None
                    group.extend([None] * (self.width - len(group)))
                    out.append((n, slot, event_id, ts, event_time, value, *group))
        return out


# --------------------------------------------------------------------------------------------------
# In the parent: the rows, stored on disk, swept per group
# --------------------------------------------------------------------------------------------------


class Store:
    """The counted events of every sweep, in a private temporary on-disk SQLite database (deleted when
    closed; SQLite keeps it in its page cache until it grows)."""

    def __init__(self, sweeps: list[Sweep]):
        self.sweeps = sweeps
        self.width = max((len(s.group_by) for s in sweeps), default=0)
        self.db = sqlite3.connect("")  # "": a private temporary database on disk
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages before it spills to disk
        groups = "".join(f", g{i}" for i in range(self.width))
        self.db.execute(f"CREATE TABLE ev (sweep, slot, eid, ts, etime, v{groups})")
        self.insert_sql = f"INSERT INTO ev VALUES ({', '.join('?' * (6 + self.width))})"
        self.pending: list[tuple] = []
        self.rows = 0

    def add(self, rows: list[tuple]) -> None:
        """Rows from `Reducer.rows` (already `width` group columns wide)."""
        self.pending.extend(rows)
        self.rows += len(rows)
        if len(self.pending) >= 10000:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.db.executemany(self.insert_sql, self.pending)
            self.pending = []

    def incidents(self) -> list[tuple[str, tuple, frozenset[str], str, str]]:
        """(rule id, group, events, first eventTime, last eventTime) of every sweep, in no set order."""
        self.flush()
        out = []
        for n, sweep in enumerate(self.sweeps):
            k = len(sweep.group_by)
            groups = "".join(f", g{i}" for i in range(k))
            cursor = self.db.execute(
                f"SELECT slot, eid, ts, etime, v{groups} FROM ev WHERE sweep = ? ORDER BY {groups[2:] + ', ' if k else ''}ts, eid, slot",
                (n,),
            )
            for key, rows in itertools.groupby(cursor, key=lambda r: r[5:]):
                group = tuple(sorted((f, str(v).lower()) for f, v in zip(sweep.group_by, key)))
                for events, first, last in _sweep(sweep, rows):
                    out.append((sweep.rule_id, group, events, first, last))
        return out

    def close(self) -> None:
        self.db.close()


def _sweep(sweep: Sweep, rows):
    if sweep.clauses is not None:
        rows = list(rows)
        present = {r[0] for r in rows}
        if not any(present.issuperset(clause) for clause in sweep.clauses):
            return ()  # no conjunction can be met in this group
        return _sequences(sweep, rows)
    return _windows(sweep, rows)


def _value_key(v):
    return ("t", fold(v)) if v.__class__ is str else ("n", v)


def _windows(sweep: Sweep, rows):
    """Plain count conditions: one window per distinct time; qualifying windows merged while they overlap."""
    test, threshold, span = _OPS[sweep.op], sweep.count, sweep.span
    window: list[tuple] = []  # rows (slot, eid, ts, etime, v) with ts in the current window, in time order
    lo = 0  # index in `window` of its first row still in the window
    seen = Counter()  # the metric's distinct keys -> rows in the window
    incident: dict[str, str] | None = None  # eid -> eventTime of the incident being built
    incident_end = -1  # absolute row number after the incident's last row
    base = 0  # absolute row number of window[0]
    kind = sweep.kind

    def key(row):
        if kind == "event_count":
            return (row[1], row[2])
        if kind == "value_count":
            return None if row[4] is None else _value_key(row[4])
        return row[0]

    def close():
        if incident:
            times = sorted(incident.values())
            return frozenset(incident), times[0], times[-1]
        return None

    rows = iter(rows)
    row = next(rows, None)
    while row is not None:
        t = row[2]
        while row is not None and row[2] == t:  # every row at this time joins the window
            window.append(row)
            k = key(row)
            if k is not None:
                seen[k] += 1
            row = next(rows, None)
        start = t - span
        while window[lo][2] < start:  # rows before the window leave it
            k = key(window[lo])
            if k is not None:
                seen[k] -= 1
                if not seen[k]:
                    del seen[k]
            lo += 1
        if lo > 4096 and lo * 2 > len(window):  # forget rows no later window can hold
            window = window[lo:]
            base += lo
            lo = 0
        if test(len(seen), threshold):
            first, end = base + lo, base + len(window)
            if incident is not None and first < incident_end:
                for r in window[incident_end - base:]:
                    incident[r[1]] = r[3]
            else:
                done = close()
                if done:
                    yield done
                incident = {r[1]: r[3] for r in window[lo:]}
            incident_end = end
    done = close()
    if done:
        yield done


def _sequences(sweep: Sweep, rows: list[tuple]):
    """Extended conditions: per window and conjunction, the earliest event of each rule (in order for
    temporal_ordered); windows sharing evidence merged."""
    span, ordered = sweep.span, sweep.kind == "temporal_ordered"
    times: dict[int, list[float]] = {}
    at: dict[tuple[int, float], list[str]] = {}
    etime: dict[str, str] = {}
    for slot, eid, ts, et, _ in (r[:5] for r in rows):
        lst = times.setdefault(slot, [])
        if not lst or lst[-1] != ts:
            lst.append(ts)
        at.setdefault((slot, ts), []).append(eid)
        etime[eid] = et
    parent: dict[str, str] = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    anchors = sorted({r[2] for r in rows})
    for t in anchors:
        start = t - span
        evidence: set[str] = set()
        for clause in sweep.clauses:
            chosen = []
            previous = None
            for slot in clause:
                lst = times.get(slot, ())
                lo = bisect.bisect_left(lst, start)
                if ordered and previous is not None:
                    lo = max(lo, bisect.bisect_left(lst, previous))  # the same second is in order
                if lo >= len(lst) or lst[lo] > t:
                    break
                chosen.append((slot, lst[lo]))
                previous = lst[lo]
            else:
                for slot, q in chosen:
                    evidence.update(at[(slot, q)])
        if evidence:
            items = list(evidence)
            for e in items:
                parent.setdefault(e, e)
            root = find(items[0])
            for e in items[1:]:
                r = find(e)
                if r != root:
                    parent[r] = root
    components: dict[str, list[str]] = {}
    for e in parent:
        components.setdefault(find(e), []).append(e)
    for members in components.values():
        times_ = sorted(etime[e] for e in members)
        yield frozenset(members), times_[0], times_[-1]
