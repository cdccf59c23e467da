"""Python regular expressions (the reference's REGEXP) as Java ones (Spark's RLIKE) with the same meaning."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.engine.spark_regex import RegexUnsupported, python_to_java
from cloudtrail_pack.engine.spark_sql import spark_string

from .conftest import needs_spark


def test_literals_are_written_as_code_points():
    assert python_to_java("a.b") == "(?d)a.b"
    assert python_to_java("a\\.b") == "(?d)a\\x{2e}b"


def test_ignorecase_folds_unicode_as_python_does():
    assert python_to_java("(?i)é") == "(?diu)\\x{e9}"


def test_end_of_string_is_javas_lower_case_z():
    assert python_to_java("a\\Z") == "(?d)a\\z"


def test_named_groups_and_lazy_repeats():
    assert python_to_java("(?P<x>a)+?") == "(?d)(?:(a)){1,}?"


def test_unicode_digits():
    assert python_to_java("\\d") == "(?d)[\\p{Nd}]"


@pytest.mark.parametrize("pattern", ["\\w", "\\s", "\\bx", "(a)?(?(1)b|c)"])
def test_classes_java_reads_otherwise_are_refused(pattern):
    with pytest.raises(RegexUnsupported):
        python_to_java(pattern)


HOSTILE = st.text(alphabet=st.sampled_from(list("ab.*+?()[]{}|^$\\/\"'\n\té😀-")), max_size=8)


# The explicit batch: the characters a Java pattern reads otherwise than a Python one (each example is one Spark job).
@needs_spark
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example([(".", "a"), ("a.b", "a.b"), ("\\", "a\\b"), ("$", "$"), ("^a", "^a"), ("[", "["), ("{1}", "a{1}"),
          ("é", "É"), ("😀", "x😀"), ("\n", "a\nb"), ('"\'', "\"'"), ("a|b", "b"), ("/", "/"), ("-", "a-b")])
@given(st.lists(st.tuples(HOSTILE, HOSTILE), min_size=1, max_size=20))
def test_escaped_hostile_literals_match_in_spark_as_in_python(spark, pairs):
    """re.escape(x) searched in y: Spark's RLIKE on the rewritten pattern agrees with re.search."""
    rows = []
    for needle, hay in pairs:
        pattern = python_to_java(re.escape(needle))
        rows.append(f"SELECT {spark_string(hay)} RLIKE {spark_string(pattern)} AS m")
    got = [r["m"] for r in spark.sql(" UNION ALL ".join(rows)).collect()]
    assert got == [re.search(re.escape(n), h) is not None for n, h in pairs]
