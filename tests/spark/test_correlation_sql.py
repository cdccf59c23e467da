"""A correlation as one Spark SQL query: the window and the plan's test, spelled out."""

from __future__ import annotations

import pytest

from cloudtrail_pack.engine.spark_correlation import window_sql
from cloudtrail_pack.engine.spark_sql import SparkUnsupported

FOLD = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"


def test_event_count_is_a_sliding_range_window_per_group(pack):
    rule = pack.by_id("d7e97f60-0265-437d-82c5-a8489994eda7").rule
    assert window_sql(rule, ["deleted"]) == (
        "SELECT DISTINCT end, array(g0) AS groups, array_sort(array_distinct(concat("
        "CASE WHEN size(array_distinct(transform(win, x -> x.eid))) >= 3 THEN transform(win, x -> x.eid) ELSE array() END"
        "))) AS evidence FROM (SELECT ts AS end, g0, collect_list(named_struct('eid', eid, 'ts', ts, 'slot', slot, 'v', v)) "
        "OVER (PARTITION BY g0 ORDER BY ts RANGE BETWEEN 600000 PRECEDING AND CURRENT ROW) AS win FROM (SELECT DISTINCT * FROM "
        f"(SELECT eid, ts, 0 AS slot, translate(`userIdentity.arn`, {FOLD}) AS g0, CAST(NULL AS STRING) AS v FROM {{counted}} "
        "WHERE array_contains(rules, 'deleted')) WHERE ts IS NOT NULL AND eid IS NOT NULL AND g0 IS NOT NULL)) "
        "WHERE (size(array_distinct(transform(win, x -> x.eid))) >= 3)"
    )


def test_ordered_steps_take_the_first_time_of_each_rule_at_or_after_the_previous(pack):
    rule = pack.by_id("08069984-506b-4822-86e1-dcdd59bfe5b1").rule
    sql = window_sql(rule, ["lp", "ak", "other", "mfa", "del"])
    assert "array_min(transform(filter(win, x -> x.slot = 0), x -> x.ts)) AS t0_q0" in sql
    assert "array_min(transform(filter(win, x -> x.slot = 4 AND (t0_q0 IS NULL OR x.ts >= t0_q0)), x -> x.ts)) AS t0_q1" in sql  # same second: in order
    assert "((x.slot = 0 AND x.ts = t0_q0) OR (x.slot = 4 AND x.ts = t0_q1))" in sql


def test_value_sum_is_refused():
    from sigma.collection import SigmaCollection

    rules = SigmaCollection.from_yaml(
        "title: a\nname: a\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: A}, condition: s}\n"
        "---\ntitle: c\ncorrelation: {type: value_sum, rules: [a], group-by: [userIdentity.arn], timespan: 5m, "
        "condition: {gte: 3, field: requestParameters.n}}\n"
    )
    rules.resolve_rule_references()
    with pytest.raises(SparkUnsupported, match="value_sum correlations"):
        window_sql(rules.rules[1], ["a"])
