"""Hostile values (quotes, backslashes, wildcards, newlines, unicode) in rules and in events never break
out of a Spark string literal and match exactly as the default engine matches them."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql.types import IntegerType, StringType, StructField, StructType
from sigma.collection import SigmaCollection

from cloudtrail_pack.engine.matcher import compile_sql
from cloudtrail_pack.engine.spark_sql import compile_where
from cloudtrail_pack.engine.sqlite import backend

from .conftest import needs_spark

pytestmark = needs_spark

FIELD = "requestParameters.userName"
# NUL is left out: SQLite compares text with NUL as C code does (up to the NUL), Spark does not (docs/spark.md)
CHARS = st.sampled_from(list("aAbB\"'\\|/*?%_[]\n\r\t éÉ😀`$") + ["\u2028"])
VALUE = st.text(alphabet=CHARS, min_size=1, max_size=6)
MODIFIERS = st.sampled_from(["", "|contains", "|startswith", "|endswith", "|cased", "|contains|cased"])


def rule_sql(modifier: str, value: str) -> str:
    doc = {"title": "t", "logsource": {"product": "aws", "service": "cloudtrail"},
           "detection": {"sel": {FIELD + modifier: value}, "condition": "sel"}}
    (sql,) = backend().convert_rule(SigmaCollection.from_yaml(yaml.safe_dump(doc)).rules[0])
    return sql


CASE = st.tuples(MODIFIERS, VALUE, st.lists(st.one_of(st.none(), VALUE), min_size=1, max_size=8))


# Batched: each example is several rules, judged in one Spark job (a job costs a fixed part of a second; the
# examples below and 8 generated batches of up to 6 rules check more rules than 25 one-rule jobs did).
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example([("", '"', [None]), ("|contains", "\\", ["a\\b"]), ("|startswith", "*?", ["*?x", "ab"]),
          ("|endswith", "%_", ["x%_", "xab"]), ("|cased", "aB", ["ab", "AB"]), ("|contains|cased", "'\n", ["x'\ny"]),
          ("", "é", ["É"]), ("|contains", "\u2028`$", ["\u2028`$"])])
@given(st.lists(CASE, min_size=1, max_size=6))
def test_hostile_rule_values_match_in_spark_as_in_the_default_engine(spark, cases):
    rows, expected, predicates = [], [], []
    for i, (modifier, value, names) in enumerate(cases):
        sql = rule_sql(modifier, value)
        expected_match = compile_sql(sql)
        # the events: the generated names, the rule's value itself and its case variants
        names = names + [value, value.upper(), value.lower(), "x" + value + "y"]
        rows += [(i, n) for n in names]
        expected += [(i, n, bool(expected_match({"requestParameters": {"userName": n}}))) for n in names]
        predicates.append(f"WHEN {i} THEN coalesce({compile_where(sql).sql}, false)")
    schema = StructType([StructField("case", IntegerType()), StructField(FIELD, StringType())])
    frame = spark.createDataFrame(rows, schema)
    got = [bool(r[0]) for r in frame.selectExpr(f"CASE `case` {' '.join(predicates)} END").collect()]
    assert [(i, n, g) for (i, n, _), g in zip(expected, got)] == expected
