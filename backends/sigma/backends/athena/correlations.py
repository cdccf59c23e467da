"""Correlation rules as one SQL query of windowed aggregations, with the semantics of the reference engine's
plan (pySigma-backend-sqlite, sigma/backends/sqlite/correlation.py, `CorrelationCompiler.compile_node`):

* the events of the rules a correlation counts, each with its group-by values lowered (a group never mixes case,
  an event without a group value takes no part), are `matches`;
* every matching event ends a window reaching back the timespan (`[ts - timespan, ts]`, both ends included);
* event_count counts the distinct events of a window, value_count the distinct lowered values of its field;
  temporal needs every rule (or, extended, every rule of one AND branch of the condition) inside the window,
  temporal_ordered also in the order of the rules list: each the earliest after the previous one;
* a window that reaches the condition is one result row, with its group and the ids of its events (for ordered
  windows: the events that make the sequence).

Only what CloudTrail Lake lists is used: INNER JOIN, UNION ALL, GROUP BY/HAVING, WITH, Trino functions
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-limitations.html: "supports all valid Trino SQL
SELECT statements"; join operators UNION, UNION ALL, EXCEPT, INTERSECT, LEFT, RIGHT and INNER JOIN), so the same
text runs on Athena and on Lake.

The reference merges nothing; overlapping windows of one burst are several rows there as here (`Verdict.incidents`
in the pack merges them for analysts, docs/athena.md shows the same for these rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

OPERATORS = {
    SigmaCorrelationConditionOperator.LT: "<",
    SigmaCorrelationConditionOperator.LTE: "<=",
    SigmaCorrelationConditionOperator.GT: ">",
    SigmaCorrelationConditionOperator.GTE: ">=",
    SigmaCorrelationConditionOperator.EQ: "=",
    SigmaCorrelationConditionOperator.NEQ: "<>",
}


def _refuse(message: str, rule) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(message, source=getattr(rule, "source", None))


def branches(node, rule) -> list[set[str]]:
    """The AND branches of an extended condition (disjunctive normal form): sets of rule references."""
    if isinstance(node, SigmaRuleReference):
        return [{node.reference}]
    if isinstance(node, CorrelationConditionNOT):
        raise _refuse("a correlation condition with `not` (a rule that must be absent from the window) is not supported", rule)
    parts = [branches(arg, rule) for arg in node.args]
    if isinstance(node, CorrelationConditionOR):
        return [b for part in parts for b in part]
    if isinstance(node, CorrelationConditionAND):
        out = [set()]
        for part in parts:
            out = [a | b for a in out for b in part]
        return out
    raise _refuse(f"correlation condition {type(node).__name__} is not supported", rule)  # pragma: no cover


_SUPPORTED = (
    SigmaCorrelationType.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED,
)


def _check(rule: SigmaCorrelationRule) -> bool:
    """Refuse what the windowed SQL cannot say; whether the condition is an extended one (rule names)."""
    if rule.aliases and len(rule.aliases):
        raise _refuse("correlation field aliases are not supported: group by one CloudTrail field name", rule)
    kind = rule.type
    if kind not in _SUPPORTED:
        raise _refuse(f"{kind.name.lower()} correlation: only event_count, value_count, temporal and temporal_ordered are supported", rule)
    extended = isinstance(rule.condition, SigmaExtendedCorrelationCondition)
    if kind == SigmaCorrelationType.TEMPORAL_ORDERED and not extended:
        raise _refuse(
            "temporal_ordered correlation with a count condition: the reference runs every ordered subset of the "
            "rules; write the condition as rule names (e.g. a and b) instead",
            rule,
        )
    return extended


def _slots(rule: SigmaCorrelationRule) -> dict[str, int]:
    """Each correlated rule's position, by every name a condition may call it."""
    slots: dict[str, int] = {}
    for slot, ref in enumerate(rule.rules):
        if not isinstance(ref.rule, SigmaRule):
            raise _refuse("a correlation over another correlation is not supported", rule)
        for name in (ref.reference, ref.rule.name, str(ref.rule.id)):
            if name:
                slots[name] = slot
    return slots


def _value_column(backend, rule: SigmaCorrelationRule) -> str:
    """The counted value of a value_count (NULL for the other types)."""
    field = getattr(rule.condition, "fieldref", None)
    if isinstance(field, list):
        if len(field) != 1:
            raise _refuse("a value_count over several fields is not supported", rule)
        field = field[0]
    return backend.column(field, rule) if rule.type == SigmaCorrelationType.VALUE_COUNT else "CAST(NULL AS varchar)"


def _selects(backend, rule: SigmaCorrelationRule, groups: list[str], g: list[str], value: str) -> list[str]:
    """One SELECT per correlated rule: its events, slot, group keys and value."""
    selects = []
    for slot, ref in enumerate(rule.rules):
        conditions = ref.rule.get_conversion_result()
        if not conditions or not all(isinstance(c, str) for c in conditions):
            raise _refuse(f"rule {ref.reference} has no condition to correlate", rule)
        predicate = " OR ".join(f"({c})" for c in conditions)
        columns = "".join(f", lower({expr}) AS {name}" for expr, name in zip(groups, g))
        selects.append(
            f"    SELECT eventid AS eid, {backend.time_seconds()} AS ts, {slot} AS slot{columns}, {value} AS v\n"
            f"    FROM hits\n    WHERE {predicate}"
        )
    return selects


@dataclass(frozen=True)
class _Windows:
    """The group key columns (`g0`, ...) of the window CTEs, and how windows and matches are joined and grouped."""

    g: list[str]

    @property
    def keys(self) -> str:
        return ", ".join(["w.window_start", "w.window_end", *(f"w.{x}" for x in self.g)])

    def joined(self, a: str, extra: str = "") -> str:
        on = " AND ".join([*(f"m.{x} = {a}.{x}" for x in self.g), f"m.ts BETWEEN {a}.window_start AND {a}.window_end"])
        return on + (f" AND {extra}" if extra else "")


def _threshold_cte(rule: SigmaCorrelationRule, w: _Windows) -> str:
    """event_count, value_count, and temporal with a count: one metric per window, compared with the threshold."""
    op = OPERATORS[rule.condition.op]
    metric = {
        SigmaCorrelationType.EVENT_COUNT: "count(DISTINCT m.eid)",
        SigmaCorrelationType.VALUE_COUNT: "count(DISTINCT lower(m.v))",
        SigmaCorrelationType.TEMPORAL: "count(DISTINCT m.slot)",
    }[rule.type]
    return (
        f"alerts AS (\n  SELECT {w.keys}, {metric} AS metric, array_agg(DISTINCT m.eid) AS event_ids\n"
        f"  FROM windows w INNER JOIN matches m ON {w.joined('w')}\n  GROUP BY {w.keys}\n"
        f"  HAVING {metric} {op} {rule.condition.count}\n)"
    )


def _ordered_ctes(name: str, pos: list[int], w: _Windows) -> list[str]:
    """The earliest event of each rule after the previous one, in the rules' order."""
    ctes, previous, times = [], "windows", []
    for i, slot in enumerate(pos):
        step = f"{name}_q{i}"
        after = f" AND m.ts >= w.q{i - 1}" if i else ""  # the same second is in order
        carried = "".join(f", w.q{j}" for j in range(i))
        ctes.append(
            f"{step} AS (\n  SELECT {w.keys}{carried}, min(m.ts) AS q{i}\n"
            f"  FROM {previous} w INNER JOIN matches m ON {w.joined('w', f'm.slot = {slot}{after}')}\n"
            f"  GROUP BY {w.keys}{carried}\n)"
        )
        previous = step
        times.append(f"(m.slot = {slot} AND m.ts = w.q{i})")
    ctes.append(
        f"{name} AS (\n  SELECT {w.keys}, array_agg(DISTINCT m.eid) AS event_ids\n"
        f"  FROM {previous} w INNER JOIN matches m ON {w.joined('w', '(' + ' OR '.join(times) + ')')}\n"
        f"  GROUP BY {w.keys}\n)"
    )
    return ctes


def _branch_ctes(rule: SigmaCorrelationRule, w: _Windows) -> list[str]:
    """An extended condition: one CTE per branch (each an AND of rules), their alerts merged per window."""
    ctes, parts = [], []
    slots = _slots(rule)
    for index, branch in enumerate(branches(rule.condition.parsed, rule)):
        pos = sorted({slots[name] for name in branch})
        name = f"branch{index}"
        if rule.type == SigmaCorrelationType.TEMPORAL:
            ctes.append(
                f"{name} AS (\n  SELECT {w.keys}, array_agg(DISTINCT m.eid) AS event_ids\n"
                f"  FROM windows w INNER JOIN matches m ON {w.joined('w', 'm.slot IN (' + ', '.join(map(str, pos)) + ')')}\n"
                f"  GROUP BY {w.keys}\n  HAVING count(DISTINCT m.slot) = {len(pos)}\n)"
            )
        else:
            ctes.extend(_ordered_ctes(name, pos, w))
        parts.append(f"    SELECT * FROM {name}")
    plain = ", ".join(["window_start", "window_end", *w.g])
    evidence = "array_distinct(flatten(array_agg(event_ids)))"
    ctes.append(
        f"alerts AS (\n  SELECT {plain}, cardinality({evidence}) AS metric, {evidence} AS event_ids FROM (\n"
        + "\n    UNION ALL\n".join(parts)
        + f"\n  ) AS branches\n  GROUP BY {plain}\n)"
    )
    return ctes


def query(backend, rule: SigmaCorrelationRule) -> str:
    """The whole SQL of a correlation rule for `backend` (an Athena or CloudTrail Lake backend)."""
    extended = _check(rule)
    kind = rule.type
    _slots(rule)  # refuses a correlation over a correlation before any column is looked up
    group = list(rule.group_by or [])
    groups = [backend.column(f, rule) for f in group]
    value = _value_column(backend, rule)
    g = [f"g{i}" for i in range(len(group))]
    w = _Windows(g)
    selects = _selects(backend, rule, groups, g, value)
    guard = " AND ".join(["eid IS NOT NULL", "ts IS NOT NULL", *(f"{x} IS NOT NULL" for x in g)])
    gcols = "".join(f", {x}" for x in g)
    ctes = [
        f"hits AS (\n  SELECT *\n  {backend.source_sql([ref.rule for ref in rule.rules]).replace(chr(10), chr(10) + '  ')}\n)",
        f"matches AS (\n  SELECT DISTINCT eid, ts, slot{gcols}, v FROM (\n"
        + "\n    UNION ALL\n".join(selects)
        + f"\n  ) AS hit\n  WHERE {guard}\n)",
        f"windows AS (\n  SELECT DISTINCT ts - {rule.timespan.seconds} AS window_start, ts AS window_end{gcols} FROM matches\n)",
    ]
    if kind in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT) or not extended:
        ctes.append(_threshold_cte(rule, w))
    else:
        ctes.extend(_branch_ctes(rule, w))
    shown = "".join(f', {x} AS "{f}"' for x, f in zip(g, group))
    return (
        "WITH " + ",\n".join(ctes) + "\n"
        f"SELECT from_unixtime(window_start) AS window_start, from_unixtime(window_end) AS window_end{shown},\n"
        f"       metric AS {kind.name.lower()}, array_sort(event_ids) AS event_ids\n"
        f"FROM alerts\nORDER BY window_end{gcols}, window_start"
    )
