"""Correlation rules as windowed aggregations in Spark SQL, meaning what the reference's plans mean.

The reference runs pySigma-backend-sqlite's correlation plan (`sigma/backends/sqlite/correlation.py`,
CorrelationCompiler.compile_node, pySigma-backend-sqlite 2.0.0): the base rules' matches, each with its
group-by values (ASCII-lower-cased text, SQLite's lower()); one sliding window per match, from
`timespan` before it up to it (both ends included); per window a metric (event_count: distinct events;
value_count: distinct values of the field, NOCASE; temporal: distinct rules matched) compared with the
condition; for ordered correlations the first time of each rule in turn, each after the previous one,
and as evidence only the events at those times; an extended condition (`a or b) and c`) expanded into
conjunctions of rules (the plan's own `terms`, imported here), each a window test of its own, windows with
the same bounds and group merged. Here each correlation is one Spark SQL query (`window_sql`): every
match's window is `collect_list(...) OVER (PARTITION BY group ORDER BY ts RANGE BETWEEN timespan
PRECEDING AND CURRENT ROW)`, and the plan's tests run on that array with higher-order functions; all
correlations go in one job. The result is `reference.Alert`s (`windows`), so `Verdict.incidents` merges
overlapping windows for both engines.

Refused with the reason (the Spark engine reports the rule as not evaluated): value_sum/avg/median/
percentile, correlations of correlations, field aliases, and extended conditions with `not`, which the
plan evaluates with forward-looking windows.
"""

from __future__ import annotations

import itertools
import math

from sigma.backends.sqlite.correlation import terms
from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition

from .reference import Alert
from .spark_sql import SparkUnsupported, column_name, fold, spark_string

SUPPORTED = ("event_count", "value_count", "temporal", "temporal_ordered")
_OPS = {Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">=", Op.EQ: "=", Op.NEQ: "!="}


def check(rule: SigmaCorrelationRule) -> None:
    """Raise SparkUnsupported if this module cannot evaluate the correlation exactly."""
    kind = rule.type.name.lower()
    if kind not in SUPPORTED:
        raise SparkUnsupported(f"{kind} correlations")
    if any(isinstance(ref.rule, SigmaCorrelationRule) for ref in rule.referenced_rules):
        raise SparkUnsupported("a correlation of correlations")
    if rule.aliases and rule.aliases.aliases:
        raise SparkUnsupported("correlation field aliases")
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        if any(negative for _, negative in terms(rule.condition.parsed)):
            raise SparkUnsupported("an extended condition with `not` (forward-looking windows)")
    if rule.timespan.seconds <= 0:
        raise SparkUnsupported("a timespan that is not positive")


def fields(rule: SigmaCorrelationRule) -> set[str]:
    """The record fields a correlation reads besides the base rules' matches."""
    wanted = set(rule.group_by or [])
    value = getattr(rule.condition, "fieldref", None)
    return wanted | ({value} if value else set())


def _clauses(rule: SigmaCorrelationRule, names: dict[str, int]):
    """(positive slots in rule order, slots whose first times are chained, extended?) per conjunction."""
    kind = rule.type.name.lower()
    n = len(rule.referenced_rules)
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        return [(sorted({names[x] for x in positive}),) * 2 + (True,) for positive, _ in terms(rule.condition.parsed)]
    op = _OPS[rule.condition.op]
    if kind == "temporal_ordered" and op in (">", ">="):
        # the plan's partial order: any `required` of the rules, in order (an unrelated third does not veto)
        count = rule.condition.count
        required = max(0, math.floor(count) + 1 if op == ">" else math.ceil(count))
        return [(sorted(c), sorted(c), False) for c in itertools.combinations(range(n), required)]
    return [([], list(range(n)), False)]


def window_sql(rule: SigmaCorrelationRule, rule_ids: list[str]) -> str:
    """The correlation as one Spark SQL query over `{counted}` (eid, ts in ms, rules: the matched rule
    ids, one text column per field): each match's window (`RANGE BETWEEN timespan PRECEDING AND CURRENT
    ROW` per group: the plan's `ts BETWEEN end - timespan AND end`) collected as an array, the plan's
    tests on it with higher-order functions. Rows: end, g0..., evidence (the event ids of a qualifying
    window; the same window once per match at its end)."""
    check(rule)
    kind = rule.type.name.lower()
    group = list(rule.group_by or [])
    gs = [f"g{i}" for i in range(len(group))]
    value = getattr(rule.condition, "fieldref", None)
    names: dict[str, int] = {}
    branches = []
    for slot, (ref, rule_id) in enumerate(zip(rule.referenced_rules, rule_ids)):
        names[ref.reference] = slot
        names[str(ref.rule.name or ref.rule.id)] = slot
        columns = "".join(f", {fold(column_name(f))} AS {g}" for f, g in zip(group, gs))
        v = column_name(value) if value else "CAST(NULL AS STRING)"
        branches.append(
            f"SELECT eid, ts, {slot} AS slot{columns}, {v} AS v FROM {{counted}} "
            f"WHERE array_contains(rules, {spark_string(rule_id)})"
        )
    guard = " AND ".join(["ts IS NOT NULL", "eid IS NOT NULL", *[f"{g} IS NOT NULL" for g in gs]])
    partition = f"PARTITION BY {', '.join(gs)} " if gs else ""
    span = rule.timespan.seconds * 1000
    query = (
        f"SELECT ts AS end{''.join(', ' + g for g in gs)}, collect_list(named_struct('eid', eid, 'ts', ts, "
        f"'slot', slot, 'v', v)) OVER ({partition}ORDER BY ts RANGE BETWEEN {span} PRECEDING AND CURRENT ROW) AS win "
        f"FROM (SELECT DISTINCT * FROM ({' UNION ALL '.join(branches)}) WHERE {guard})"
    )
    clauses = _clauses(rule, names)
    # ordered: the first time of each rule in turn, each after the last one found (one layer per step)
    for t, (_, chained, extended) in enumerate(clauses):
        if kind != "temporal_ordered":
            break
        times: list[str] = []
        for i, slot in enumerate(chained):
            previous = f"coalesce({', '.join(reversed(times))})" if len(times) > 1 else (times[0] if times else None)
            after = f" AND ({previous} IS NULL OR x.ts >= {previous})" if previous else ""  # same second: in order
            name = f"t{t}_q{i}"
            query = (
                f"SELECT *, array_min(transform(filter(win, x -> x.slot = {slot}{after}), x -> x.ts)) AS {name} "
                f"FROM ({query})"
            )
            times.append(name)
    if kind.startswith("temporal"):
        metric = "size(array_distinct(transform(win, x -> x.slot)))"
    elif kind == "event_count":
        metric = "size(array_distinct(transform(win, x -> x.eid)))"
    else:  # value_count: COUNT(DISTINCT v COLLATE NOCASE)
        metric = f"size(array_distinct(transform(filter(win, x -> x.v IS NOT NULL), x -> {fold('x.v')})))"
    qualified, evidence = [], []
    for t, (pos, chained, extended) in enumerate(clauses):
        tests = [f"exists(win, x -> x.slot = {s})" for s in pos]
        chosen = []
        if kind == "temporal_ordered":
            for i, s in enumerate(chained):
                q = f"t{t}_q{i}"
                tests.append(f"{q} IS NOT NULL" if extended else f"(NOT exists(win, x -> x.slot = {s}) OR {q} IS NOT NULL)")
                chosen.append(f"(x.slot = {s} AND x.ts = {q})")
        if not extended:
            tests.append(f"{metric} {_OPS[rule.condition.op]} {rule.condition.count}")
        keep = []
        if extended and pos:
            keep.append(f"x.slot IN ({', '.join(map(str, pos))})")
        if chosen:
            keep.append("(" + " OR ".join(chosen) + ")")
        ok = " AND ".join(tests) or "true"
        qualified.append(f"({ok})")
        events = f"transform(filter(win, x -> {' AND '.join(keep)}), x -> x.eid)" if keep else "transform(win, x -> x.eid)"
        evidence.append(f"CASE WHEN {ok} THEN {events} ELSE array() END")
    groups = f"array({', '.join(gs)})" if gs else "CAST(array() AS ARRAY<STRING>)"
    return (
        f"SELECT DISTINCT end, {groups} AS groups, "
        f"array_sort(array_distinct(concat({', '.join(evidence)}))) AS evidence "
        f"FROM ({query}) WHERE {' OR '.join(qualified)}"
    )


def windows(spark, counted, rules: list[tuple[str, SigmaCorrelationRule]]) -> list[Alert]:
    """The plans' alerts (one per qualifying window, its evidence merged across the condition's
    conjunctions) over `counted`, every correlation in one Spark job."""
    queries = [
        f"SELECT {spark_string(rule_id)} AS rule, * FROM ({window_sql(rule, [str(r.rule.id) for r in rule.referenced_rules])})"
        for rule_id, rule in rules
    ]
    windows: dict[tuple, set[str]] = {}
    for row in spark.sql(" UNION ALL ".join(queries), counted=counted).collect():
        windows.setdefault((row["rule"], tuple(row["groups"]), row["end"]), set()).update(row["evidence"])
    by_id = dict(rules)
    return [
        Alert(rule_id, dict(zip(by_id[rule_id].group_by or [], groups)), frozenset(events))
        for (rule_id, groups, _), events in sorted(windows.items())
        if events
    ]
