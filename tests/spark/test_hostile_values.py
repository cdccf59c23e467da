"""Hostile values (quotes, backslashes, wildcards, newlines, unicode) in rules and in events never break
out of a Spark string literal and match exactly as the default engine matches them."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.types import StringType, StructField, StructType
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MODIFIERS, VALUE, st.lists(st.one_of(st.none(), VALUE), min_size=1, max_size=8))
def test_hostile_rule_values_match_in_spark_as_in_the_default_engine(spark, modifier, value, names):
    sql = rule_sql(modifier, value)
    expected_match = compile_sql(sql)
    # the events: the generated names, the rule's value itself and its case variants
    names = names + [value, value.upper(), value.lower(), "x" + value + "y"]
    events = [{"requestParameters": {"userName": n}} for n in names]
    predicate = compile_where(sql)
    frame = spark.createDataFrame([(n,) for n in names], StructType([StructField(FIELD, StringType())]))
    got = [bool(r[0]) for r in frame.selectExpr(f"coalesce({predicate.sql}, false)").collect()]
    assert got == [bool(expected_match(e)) for e in events]
