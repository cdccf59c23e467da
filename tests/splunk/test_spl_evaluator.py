"""The SPL evaluator itself: each documented behaviour it relies on, one per test (see the references
[BOOL], [SEARCH], ... in tests/evaluators/spl.py)."""

from __future__ import annotations

import pytest

from evaluators.spl import (
    And,
    MatchAll,
    Not,
    Or,
    SPLError,
    SplunkEvaluator,
    Term,
    Value,
    event_fields,
    parse_conf,
    parse_search_expr,
)

MACROS = {"cloudtrail": "(index=aws sourcetype=aws:cloudtrail)", "x_filter": "search *"}


def rec(i: int, minute: int = 0, **fields) -> dict:
    base = {
        "eventID": f"e{i}",
        "eventTime": f"2026-11-23T10:{minute:02d}:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "DeleteUser",
    }
    base.update(fields)
    return base


def ids(search: str, records: list[dict], macros=MACROS) -> set[str]:
    rows = SplunkEvaluator(macros).run(search, records)
    return {records[i]["eventID"] for r in rows for i in r.sources}


# --- parsing [BOOL] -------------------------------------------------------------------------------------


def T(field, value, op="="):
    return Term(field, op, (Value(value, True),))


def test_implicit_and():
    assert parse_search_expr('a="1" b="2"') == And((T("a", "1"), T("b", "2")))


def test_or_binds_tighter_than_and_in_search():
    assert parse_search_expr('a="1" b="2" OR c="3"') == And((T("a", "1"), Or((T("b", "2"), T("c", "3")))))


def test_not_applies_to_the_next_term_only():
    assert parse_search_expr('NOT a="1" b="2"') == And((Not(T("a", "1")), T("b", "2")))


def test_eval_precedence_binds_and_before_or():
    """[BOOL] where/eval: NOT, AND, then OR; used to check that a search does not depend on the order."""
    assert parse_search_expr('a="1" b="2" OR c="3"', precedence="eval") == Or((And((T("a", "1"), T("b", "2"))), T("c", "3")))


def test_eval_precedence_keeps_parenthesized_groups():
    text = '(a="1" AND (b="2" OR c="3"))'
    assert parse_search_expr(text, precedence="eval") == parse_search_expr(text) == And((T("a", "1"), Or((T("b", "2"), T("c", "3")))))


def test_parentheses_group():
    assert parse_search_expr('(a="1" b="2") OR c="3"') == Or((And((T("a", "1"), T("b", "2"))), T("c", "3")))


def test_explicit_and_is_the_implied_and():
    assert parse_search_expr('a="1" AND b="2"') == parse_search_expr('a="1" b="2"')


def test_in_list():
    assert parse_search_expr('a IN ("1", x*)') == Term("a", "IN", (Value("1", True), Value("x*", False)))


def test_bare_star_matches_all():
    assert parse_search_expr("*") == MatchAll()


def test_quoted_escapes_are_processed():
    assert parse_search_expr(r'a="q\"b\\s\|p\x"') == T("a", 'q"b\\s|p\\x')


def test_backslash_star_in_a_search_term_is_undefined():
    with pytest.raises(SPLError, match="asterisk"):
        parse_search_expr(r'a="x\*"')


def test_lower_case_or_is_a_keyword_not_an_operator():
    with pytest.raises(SPLError, match="keyword search"):
        parse_search_expr('a="1" or b="2"')


def test_keyword_search_is_refused():
    with pytest.raises(SPLError, match="keyword search"):
        parse_search_expr('"DeleteUser"')


def test_unbalanced_quote_is_refused():
    with pytest.raises(SPLError, match="unbalanced"):
        SplunkEvaluator(MACROS).parse('a="x')


def test_subsearch_is_refused():
    with pytest.raises(SPLError, match="subsearch"):
        SplunkEvaluator(MACROS).parse('a="x" [search b=1]')


def test_unknown_command_is_refused():
    with pytest.raises(SPLError, match="unsupported command"):
        SplunkEvaluator(MACROS).parse('a="x" | dedup a')


def test_generating_command_is_refused():
    with pytest.raises(SPLError, match="generating"):
        SplunkEvaluator(MACROS).parse("| makeresults")


# --- macros [MACRO] ------------------------------------------------------------------------------------


def test_macros_expand_before_parsing():
    [search, table] = SplunkEvaluator(MACROS).parse('`cloudtrail` eventName="X" | `x_filter`')
    assert search.node == And(
        (And((Term("index", "=", (Value("aws", False),)), Term("sourcetype", "=", (Value("aws:cloudtrail", False),)))),
         T("eventName", "X"))
    )
    assert table.name == "search" and table.node == MatchAll()


def test_undefined_macro_is_an_error():
    with pytest.raises(SPLError, match="not defined"):
        SplunkEvaluator({}).parse("`cloudtrail` a=1")


def test_backtick_inside_quotes_is_undefined():
    with pytest.raises(SPLError, match="backtick inside"):
        SplunkEvaluator(MACROS).parse('a="x`y`"')


def test_macros_conf_is_read():
    ev = SplunkEvaluator.from_macros_conf("[cloudtrail]\ndefinition = (index=x)\niseval = 0\n")
    assert ev.macros == {"cloudtrail": "(index=x)"}


# --- field=value [SEARCH] ------------------------------------------------------------------------------


def test_values_match_case_insensitively():
    assert ids('eventName="deleteuser"', [rec(1), rec(2, eventName="CreateUser")]) == {"e1"}


def test_field_names_are_case_sensitive():
    assert ids('eventname="DeleteUser"', [rec(1)]) == set()


def test_wildcard_matches_any_run():
    assert ids('eventName="Del*er"', [rec(1), rec(2, eventName="Delete")]) == {"e1"}


def test_value_must_match_whole_field():
    assert ids('eventName="Delete"', [rec(1)]) == set()


def test_not_keeps_events_without_the_field():
    records = [rec(1, errorCode="AccessDenied"), rec(2)]
    assert ids('NOT errorCode="AccessDenied"', records) == {"e2"}


def test_not_equal_needs_the_field():
    records = [rec(1, errorCode="AccessDenied"), rec(2), rec(3, errorCode="NoSuchEntity")]
    assert ids('errorCode!="AccessDenied"', records) == {"e3"}


def test_field_star_means_the_field_exists():
    assert ids("errorCode=*", [rec(1, errorCode="x"), rec(2)]) == {"e1"}


def test_in_matches_any_value():
    records = [rec(1), rec(2, eventName="CreateUser"), rec(3, eventName="GetUser")]
    assert ids('eventName IN ("deleteuser", "Create*")', records) == {"e1", "e2"}


def test_cidr_matches_addresses_in_subnet():
    records = [rec(1, sourceIPAddress="192.0.2.7"), rec(2, sourceIPAddress="198.51.100.1")]
    assert ids("sourceIPAddress=192.0.2.0/24", records) == {"e1"}


def test_nested_fields_are_dotted_and_arrays_are_braced():
    fields = event_fields({"a": {"b": 1, "c": [{"d": True}, {"d": None}]}, "n": None})
    assert fields == {"a.b": ("1",), "a.c{}.d": ("true",)}


def test_multivalue_field_matches_any_value():
    record = rec(1, resources=[{"ARN": "arn:a"}, {"ARN": "arn:b"}])
    assert ids('resources{}.ARN="arn:b"', [record]) == {"e1"}


def test_numeric_comparison():
    assert ids("requestParameters.maxItems>=10", [rec(1, requestParameters={"maxItems": 10}), rec(2)]) == {"e1"}


def test_scope_macro_fields_come_from_the_index():
    assert ids('`cloudtrail` eventName="DeleteUser"', [rec(1)]) == {"e1"}
    assert ids('`cloudtrail` eventName="DeleteUser"', [rec(1)], {**MACROS, "cloudtrail": "index=other"}) == set()


# --- regex [REGEX] -------------------------------------------------------------------------------------


def test_regex_is_unanchored_and_case_sensitive():
    records = [rec(1, userAgent="aws-cli/2"), rec(2, userAgent="AWS-CLI/2")]
    assert ids('* | regex userAgent="cli/"', records) == {"e1"}


def test_regex_string_backslashes_are_processed_first():
    # `\\*` in the search string reaches PCRE as `\*`, a literal asterisk
    records = [rec(1, requestParameters={"policyName": "a*"}), rec(2, requestParameters={"policyName": "aa"})]
    assert ids(r'* | regex requestParameters.policyName="^a\\*$"', records) == {"e1"}


def test_regex_not_equal_is_refused():
    with pytest.raises(SPLError, match="undocumented"):
        SplunkEvaluator(MACROS).parse('* | regex a!="x"')


def test_pcre_only_syntax_is_refused():
    with pytest.raises(SPLError, match="PCRE subset"):
        SplunkEvaluator(MACROS).parse(r'* | regex a="x\\z"')


# --- where [WHERE] -------------------------------------------------------------------------------------


def test_where_string_comparison_is_case_sensitive():
    assert ids('* | where eventName="deleteuser"', [rec(1)]) == set()
    assert ids('* | where eventName="DeleteUser"', [rec(1)]) == {"e1"}


def test_where_and_binds_tighter_than_or():
    records = [rec(1, errorCode="A"), rec(2, eventName="X"), rec(3, eventName="X", errorCode="A")]
    # eventName="X" AND errorCode="A" OR eventName="DeleteUser"  ==  (X and A) or DeleteUser
    assert ids('* | where eventName="X" AND errorCode="A" OR eventName="DeleteUser"', records) == {"e1", "e3"}


def test_where_like_and_match():
    records = [rec(1, userAgent="aws-cli/2.0"), rec(2, userAgent="Boto3/1")]
    assert ids('* | where like(userAgent, "aws-cli/%")', records) == {"e1"}
    assert ids('* | where match(userAgent, "^Bo")', records) == {"e2"}


def test_where_with_a_missing_field_is_not_true():
    assert ids('* | where NOT errorCode="A"', [rec(1)]) == set()


def test_where_numbers_compare_numerically():
    assert ids("* | where requestParameters.n > 9", [rec(1, requestParameters={"n": 10})]) == {"e1"}


def test_where_lower_compares_two_fields_case_insensitively():
    records = [rec(1, a="Bob", b="bob"), rec(2, a="bob", b="bobby")]
    assert ids("* | where lower('a')==lower('b')", records) == {"e1"}


def test_where_lower_of_a_missing_field_is_null_so_not_of_it_drops_the_event():
    assert ids("* | where NOT lower('a')==lower('b')", [rec(1, a="bob")]) == set()
    assert ids("* | where NOT (isnotnull('a') AND isnotnull('b') AND lower('a')==lower('b'))", [rec(1, a="bob")]) == {"e1"}


def test_where_lower_of_non_ascii_letters_is_undefined():
    with pytest.raises(SPLError, match="outside ASCII"):
        ids("* | where lower('a')==lower('b')", [rec(1, a="É", b="é")])


def test_where_single_quotes_name_a_field():
    assert ids("* | where 'eventName'='eventName'", [rec(1)]) == {"e1"}


# --- table, fields, stats, streamstats, bin ----------------------------------------------------------------


def test_table_keeps_listed_fields_in_order_and_provenance():
    rows = SplunkEvaluator(MACROS).run("* | table eventName, eventID", [rec(1)])
    assert [list(r.fields) for r in rows] == [["eventName", "eventID"]]
    assert rows[0].sources == {0}


def test_fields_minus_removes():
    rows = SplunkEvaluator(MACROS).run("* | fields - eventName", [rec(1)])
    assert "eventName" not in rows[0].fields and "eventID" in rows[0].fields


def test_stats_count_by_drops_events_without_the_field_and_sorts():
    records = [rec(1, userIdentity={"arn": "b"}), rec(2, userIdentity={"arn": "a"}), rec(3, userIdentity={"arn": "b"}), rec(4)]
    rows = SplunkEvaluator(MACROS).run("* | stats count by userIdentity.arn", records)
    assert [r.fields for r in rows] == [
        {"userIdentity.arn": ("a",), "count": ("1",)},
        {"userIdentity.arn": ("b",), "count": ("2",)},
    ]
    assert rows[1].sources == {0, 2}


def test_stats_dc_as():
    records = [rec(1, requestParameters={"userName": "x"}), rec(2, requestParameters={"userName": "x"})]
    rows = SplunkEvaluator(MACROS).run("* | stats dc(requestParameters.userName) as users", records)
    assert rows[0].fields == {"users": ("1",)}


def test_results_arrive_newest_first():
    rows = SplunkEvaluator(MACROS).run("*", [rec(1, 0), rec(2, 5), rec(3, 2)])
    assert [r.first("eventID") for r in rows] == ["e2", "e3", "e1"]


def test_streamstats_counts_within_time_window_per_group():
    arn = {"arn": "u"}
    records = [rec(1, 0, userIdentity=arn), rec(2, 4, userIdentity=arn), rec(3, 9, userIdentity=arn), rec(4, 30, userIdentity=arn)]
    rows = SplunkEvaluator(MACROS).run("* | streamstats time_window=10m count as n by userIdentity.arn", records)
    assert [(r.first("eventID"), r.first("n")) for r in rows] == [("e4", "1"), ("e3", "1"), ("e2", "2"), ("e1", "3")]
    assert rows[-1].window == {0, 1, 2}


def test_streamstats_window_includes_an_event_exactly_one_window_away():
    arn = {"arn": "u"}
    rows = SplunkEvaluator(MACROS).run(
        "* | streamstats time_window=10m count as n by userIdentity.arn", [rec(1, 0, userIdentity=arn), rec(2, 10, userIdentity=arn)]
    )
    assert rows[-1].first("n") == "2"


def test_streamstats_leaves_events_without_the_group_field_uncounted():
    rows = SplunkEvaluator(MACROS).run("* | streamstats time_window=10m count as n by userIdentity.arn", [rec(1)])
    assert rows[0].first("n") is None


def test_threshold_search_end_to_end():
    arn = {"arn": "arn:aws:iam::111122223333:user/x"}
    records = [rec(i, m, userIdentity=arn) for i, m in ((1, 0), (2, 3), (3, 6), (4, 40))]
    search = (
        '`cloudtrail` eventName="DeleteUser"\n| sort 0 _time\n'
        "| streamstats time_window=10m count as event_count by userIdentity.arn\n"
        "| where event_count >= 3\n| `x_filter`"
    )
    rows = SplunkEvaluator(MACROS).run(search, records)
    assert [r.first("eventID") for r in rows] == ["e3"]
    assert rows[0].window == {0, 1, 2}


def test_sort_zero_keeps_all_results_ascending():
    rows = SplunkEvaluator(MACROS).run("* | sort 0 _time", [rec(1, 5), rec(2, 1), rec(3, 3)])
    assert [r.first("eventID") for r in rows] == ["e2", "e3", "e1"]


def test_sort_descending_and_limit():
    rows = SplunkEvaluator(MACROS).run("* | sort 2 -_time", [rec(1, 5), rec(2, 1), rec(3, 3)])
    assert [r.first("eventID") for r in rows] == ["e1", "e3"]


def test_ascending_streamstats_counts_the_window_up_to_each_event():
    arn = {"arn": "u"}
    records = [rec(1, 0, userIdentity=arn), rec(2, 4, userIdentity=arn), rec(3, 9, userIdentity=arn)]
    rows = SplunkEvaluator(MACROS).run(
        "* | sort 0 _time | streamstats time_window=10m count as n by userIdentity.arn", records
    )
    assert [(r.first("eventID"), r.first("n")) for r in rows] == [("e1", "1"), ("e2", "2"), ("e3", "3")]
    assert rows[-1].window == {0, 1, 2}


def test_bin_floors_time_to_span():
    rows = SplunkEvaluator(MACROS).run("* | bin _time span=10m | stats count by _time", [rec(1, 3), rec(2, 9), rec(3, 12)])
    assert [(r.first("_time"), r.first("count")) for r in rows] == [("1795428000", "2"), ("1795428600", "1")]


# --- conf files [CONF] ---------------------------------------------------------------------------------


def test_conf_continuation_keeps_the_line_break():
    assert parse_conf("[s]\nsearch = a\\\n| b\nx = 1\n") == {"s": {"search": "a\n| b", "x": "1"}}


def test_conf_comments_and_default():
    assert parse_conf("# c\nk = v\n[s]\n") == {"default": {"k": "v"}, "s": {}}


def test_conf_duplicate_key_is_an_error():
    with pytest.raises(SPLError, match="duplicate key"):
        parse_conf("[s]\nk = 1\nk = 2\n")
