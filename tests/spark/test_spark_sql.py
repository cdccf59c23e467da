"""The reference's SQLite SQL as Spark SQL: each node with SQLite's meaning, the expected query spelled out."""

from __future__ import annotations

import pytest
from sigma.collection import SigmaCollection

from cloudtrail_pack.engine.spark_sql import SparkUnsupported, compile_where, spark_string
from cloudtrail_pack.engine.sqlite import backend

FOLD = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"


def where(detection: str) -> str:
    """The Spark SQL of a rule with this detection, through the reference's own SQLite conversion."""
    rule = SigmaCollection.from_yaml(
        "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n" + detection
    ).rules[0]
    (sql,) = backend().convert_rule(rule)
    return compile_where(sql).sql


def test_equality_compares_ascii_folded_text_as_nocase_does():
    assert where("  sel: {eventName: DeleteUser}\n  condition: sel\n") == (
        f"(translate(`eventName`, {FOLD}) = 'deleteuser')"
    )


def test_a_dotted_field_is_one_column_named_as_the_reference_names_it():
    assert where("  sel: {requestParameters.userName: Bob}\n  condition: sel\n") == (
        f"(translate(`requestParameters.userName`, {FOLD}) = 'bob')"
    )


def test_unicode_letters_are_not_folded_as_sqlite_does_not_fold_them():
    assert where("  sel: {userIdentity.userName: ÉMILE}\n  condition: sel\n") == (
        f"(translate(`userIdentity.userName`, {FOLD}) = '\\u00c9mile')"
    )


def test_fieldref_folds_both_fields():
    assert where("  sel: {requestParameters.userName|fieldref: userIdentity.userName}\n  condition: sel\n") == (
        f"(translate(`requestParameters.userName`, {FOLD}) = translate(`userIdentity.userName`, {FOLD}))"
    )


def test_not_keeps_events_without_the_field_as_the_backend_wraps_it():
    assert where("  sel: {eventName: A}\n  f: {errorCode: X}\n  condition: sel and not f\n") == (
        f"((translate(`eventName`, {FOLD}) = 'a') AND (NOT coalesce((translate(`errorCode`, {FOLD}) = 'x'), false)))"
    )


def test_contains_is_a_folded_like_with_sparks_escape():
    assert where("  sel: {requestParameters.policyArn|contains: 'a%b_c\\d'}\n  condition: sel\n") == (
        f"(translate(`requestParameters.policyArn`, {FOLD}) LIKE '%a\\\\%b\\\\_c\\\\\\\\d%')"
    )


def test_cased_is_a_case_sensitive_like():
    assert where("  sel: {eventName|cased|startswith: 'Del*'}\n  condition: sel\n") == (
        "(`eventName` LIKE 'Del%')"
    )


def test_regex_is_rlike_rewritten_for_java_and_false_when_missing():
    assert where("  sel: {eventName|re: '^Delete.$'}\n  condition: sel\n") == (
        "coalesce(`eventName` RLIKE '(?d)^Delete.$', false)"
    )


def test_exists_and_null():
    assert where("  sel: {errorCode|exists: true}\n  n: {errorMessage: null}\n  condition: sel and n\n") == (
        "((`errorCode` IS NOT NULL) AND (`errorMessage` IS NULL))"
    )


def test_numbers_are_refused_because_json_text_cannot_tell_them_from_strings():
    with pytest.raises(SparkUnsupported, match="the number 5"):
        where("  sel: {requestParameters.maxItems: 5}\n  condition: sel\n")


def test_time_modifiers_are_refused():
    with pytest.raises(SparkUnsupported, match="CAST"):
        where("  sel: {eventTime|hour: 3}\n  condition: sel\n")


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "new\nline", "tab\t", "é", "😀", "\x00", "'; DROP"])
def test_string_literals_escape_what_spark_would_read(value):
    literal = spark_string(value)
    assert literal.startswith("'") and literal.endswith("'")
    assert all(" " <= c <= "~" for c in literal)
    body = literal[1:-1].replace("\\\\", "").replace("\\'", "")
    assert "'" not in body


def test_a_nul_in_a_query_is_refused_as_sqlite3_refuses_it():
    with pytest.raises(SparkUnsupported, match="NUL"):
        compile_where("SELECT * FROM cloudtrail WHERE eventName='a\x00b'")
