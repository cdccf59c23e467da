"""The Logs Insights and filter pattern evaluators: documented semantics, and strictness (unknown syntax is an
error, never a skip)."""

from __future__ import annotations

import pytest

from evaluators import logs_insights as li
from evaluators import metric_filter as mf

T = "2026-11-23T10:00:00Z"


def rec(**fields) -> dict:
    return {"eventTime": T, "eventID": "e", **fields}


# ---- Logs Insights: semantics ---------------------------------------------------------------------------------


def test_equality_is_case_sensitive():
    assert li.matches('filter eventName = "DeleteUser"', rec(eventName="DeleteUser"))
    assert not li.matches('filter eventName = "DeleteUser"', rec(eventName="deleteuser"))


def test_like_string_is_a_case_sensitive_substring():
    assert li.matches('filter userAgent like "Boto3"', rec(userAgent="aws-sdk Boto3/1.2"))
    assert not li.matches('filter userAgent like "boto3"', rec(userAgent="aws-sdk Boto3/1.2"))


def test_like_regex_is_unanchored_and_case_insensitive_with_flag():
    assert li.matches("filter userAgent like /(?i)boto3/", rec(userAgent="aws-sdk Boto3/1.2"))
    assert li.matches("filter userAgent =~ /Boto3/", rec(userAgent="aws-sdk Boto3/1.2"))


def test_regex_end_anchors_follow_pcre():
    """PCRE `$` (and \\Z) also match before a final newline; \\z only at the very end."""
    assert li.matches("filter a like /x$/", rec(a="x\n"))
    assert li.matches("filter a like /x\\Z/", rec(a="x\n"))
    assert not li.matches("filter a like /x\\z/", rec(a="x\n"))


def test_case_insensitive_regex_folds_ascii_only():
    assert not li.matches("filter a like /(?i)\\Aé\\z/", rec(a="É"))
    assert li.matches("filter a like /(?i)\\A(?:É|é)\\z/", rec(a="É"))


def test_tolower_compares_two_fields_whole_and_case_insensitively():
    query = "filter tolower(a) = tolower(b)"
    assert li.matches(query, rec(a="Bob", b="bOB"))
    assert not li.matches(query, rec(a="bob", b="bobby"))


def test_tolower_of_an_absent_field_is_unknown():
    """Unknown, not false: under `not` the comparison drops the event unless ispresent() guards it."""
    assert not li.matches("filter not (tolower(a) = tolower(b))", rec(a="bob"))
    assert li.matches("filter not (ispresent(a) and ispresent(b) and tolower(a) = tolower(b))", rec(a="bob"))


def test_tolower_of_non_ascii_letters_is_an_error():
    with pytest.raises(li.LogsInsightsError, match="non-ASCII"):
        li.matches("filter tolower(a) = tolower(b)", rec(a="Élise", b="élise"))


def test_nested_fields_and_array_elements():
    record = rec(userIdentity={"arn": "arn:x"}, resources=[{"ARN": "arn:a"}, {"ARN": "arn:b"}])
    assert li.matches('filter userIdentity.arn = "arn:x" and resources.1.ARN = "arn:b"', record)


def test_objects_are_not_fields():
    assert not li.matches("filter ispresent(userIdentity)", rec(userIdentity={"arn": "x"}))


def test_null_is_absent():
    assert not li.matches("filter ispresent(errorCode)", rec(errorCode=None))


def test_in_list():
    assert li.matches('filter eventName in ["A", "B"]', rec(eventName="B"))
    assert not li.matches('filter eventName in ["A", "B"]', rec(eventName="b"))


def test_comparison_on_a_missing_field_is_unknown():
    """Three-valued: `not` of an unknown comparison is unknown, so the event is not returned."""
    assert not li.matches('filter not (errorCode = "x")', rec())
    assert li.matches('filter not (ispresent(errorCode) and errorCode = "x")', rec())


def test_numbers_compare_numerically():
    assert li.matches("filter count >= 10", rec(count=12))
    assert li.matches("filter count = 12", rec(count="12"))
    assert not li.matches("filter count < 10", rec(count="many"))


def test_field_to_field():
    assert li.matches("filter a = b", rec(a="x", b="x"))
    assert not li.matches("filter a = b", rec(a="x"))


def test_is_ip_in_subnet():
    assert li.matches('filter isIpInSubnet(ip, "192.0.2.0/24")', rec(ip="192.0.2.7"))
    assert not li.matches('filter isIpInSubnet(ip, "192.0.2.0/24")', rec(ip="AWS Internal"))
    assert not li.matches('filter isIpInSubnet(ip, "192.0.2.0/24")', rec())


def test_message_is_the_event_json():
    assert li.matches('filter @message like /"eventName":"X"/', rec(eventName="X"))


def test_stats_counts_per_group_and_fixed_bin():
    records = [
        rec(arn="a") | {"eventTime": "2026-11-23T10:01:00Z"},
        rec(arn="a") | {"eventTime": "2026-11-23T10:09:59Z"},
        rec(arn="a") | {"eventTime": "2026-11-23T10:10:00Z"},
        rec(arn="b") | {"eventTime": "2026-11-23T10:02:00Z"},
    ]
    rows = li.run("stats count(*) as n by arn, bin(10m)", records)
    assert sorted((r.values["arn"], r.values["n"], r.events) for r in rows) == [
        ("a", 1, (2,)),
        ("a", 2, (0, 1)),
        ("b", 1, (3,)),
    ]


def test_stats_then_filter_and_count_distinct():
    records = [rec(arn="a", user="u1"), rec(arn="a", user="u2"), rec(arn="a", user="u2"), rec(arn="b", user="u1")]
    rows = li.run("stats count_distinct(user) as valueCount by arn, bin(1h)\n| filter valueCount >= 2", records)
    assert [(r.values["arn"], r.values["valueCount"]) for r in rows] == [("a", 2)]


def test_sort_and_limit():
    records = [rec(n=1), rec(n=3), rec(n=2)]
    rows = li.run("fields n\n| sort n desc\n| limit 2", records)
    assert [r.values["n"] for r in rows] == [3, 2]


# ---- Logs Insights: strictness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, message",
    [
        ('filter a = "x" and b = "y" or c = "z"', "precedence is not documented"),
        ('filter a = "x\\"y"', "escape sequence"),
        ("filter a like /(?=x)/", "not supported by Hyperscan"),
        ("filter a like /(x)\\1/", "not supported by Hyperscan"),
        ("filter a like /x/i", "regex flags"),
        ("dedup a", "not in the evaluated subset"),
        ("filter strlen(a) > 3", "unexpected"),
        ("filter not a = 1", "must be followed"),
        ("stats count(*) by bin(1mo)", "not modelled"),
        ("fields my_field", "needs backticks"),
        ("filter a = 1 |", "end of query"),
    ],
)
def test_unknown_or_undocumented_syntax_is_an_error(query, message):
    with pytest.raises(li.LogsInsightsError, match=message):
        li.matching(query, [rec(a="x")])


def test_a_comment_runs_to_the_end_of_its_line():
    """AWS's example: a commented-out `| filter` line is ignored (CWL_QuerySyntax-alias, "Use comments")."""
    query = 'filter a = "x"\n# | filter b = "y"\n| filter c = "z" # trailing note'
    assert li.matching(query, [rec(a="x", b="other", c="z"), rec(a="x", c="no")]) == {0}


def test_boolean_fields_cannot_be_compared():
    with pytest.raises(li.LogsInsightsError, match="JSON boolean"):
        li.matches('filter readOnly = "true"', rec(readOnly=True))


def test_query_length_limit():
    with pytest.raises(li.LogsInsightsError, match="10000"):
        li.parse("filter a = 1" + " or a = 1" * 2000)


# ---- filter patterns --------------------------------------------------------------------------------------------


def test_pattern_equality_and_wildcards():
    assert mf.matches('{ $.eventName = "Delete*" }', {"eventName": "DeleteUser"})
    assert mf.matches('{ $.eventName = "*User" }', {"eventName": "DeleteUser"})
    assert not mf.matches('{ $.eventName = "deleteuser" }', {"eventName": "DeleteUser"})


def test_pattern_inner_star_is_literal():
    assert mf.matches('{ $.a = "Ev*ent" }', {"a": "Ev*ent"})
    assert not mf.matches('{ $.a = "Ev*ent" }', {"a": "EvXent"})


def test_pattern_not_equal_needs_a_value_node():
    assert mf.matches('{ $.a != "x" }', {"a": "y"})
    assert not mf.matches('{ $.a != "x" }', {})
    assert not mf.matches('{ $.a != "x" }', {"a": ["y"]})


def test_pattern_null_exists_booleans_numbers_arrays():
    event = {"a": None, "flag": True, "n": 5, "users": [{"id": 2}]}
    assert mf.matches("{ $.a IS NULL }", event)
    assert mf.matches("{ $.missing NOT EXISTS }", event)
    assert not mf.matches("{ $.a NOT EXISTS }", event)
    assert mf.matches("{ $.flag IS TRUE }", event)
    assert mf.matches("{ $.n > 4 && $.users[0].id = 2 }", event)
    assert mf.matches("{ $.n = * }", event)


def test_pattern_precedence_and_binds_tighter():
    event = {"a": 1, "b": 0, "c": 1}
    assert mf.matches("{ $.a = 1 || $.b = 1 && $.c = 0 }", event)
    assert not mf.matches("{ ($.a = 1 || $.b = 1) && $.c = 0 }", event)


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("ERROR", "only JSON filter patterns"),
        ("{ $.a = %x+% }", "regex"),
        ('{ $.a = "x\\n" }', "escape"),
        ("{ $.a }", "end of pattern"),
        ("{ $.a < \"x\" }", "needs a number"),
    ],
)
def test_pattern_strictness(pattern, message):
    with pytest.raises(mf.FilterPatternError, match=message):
        mf.matches(pattern, {"a": "x"})
