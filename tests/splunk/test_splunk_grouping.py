"""splunk_grouping: the backend's search expression rewritten with every AND/OR group in parentheses and
AND written out; terms copied byte for byte; anything outside the backend's subset refused. One
behaviour per test, the expected text spelled out."""

from __future__ import annotations

import pytest

from sigma.pipelines.cloudtrail.splunk_grouping import GroupingError, group_search


def test_implicit_and_is_written_out_and_parenthesized():
    assert group_search('a="1" b="2"') == '(a="1" AND b="2")'


def test_or_binds_tighter_than_implicit_and_as_in_the_search_command():
    assert group_search('a="1" b="2" OR c="3"') == '(a="1" AND (b="2" OR c="3"))'


def test_backend_parentheses_become_a_group():
    assert group_search('a="1" OR (b="2" c="3")') == '(a="1" OR (b="2" AND c="3"))'


def test_redundant_parentheses_around_one_term_are_dropped():
    assert group_search('(a="1")') == 'a="1"'


def test_not_applies_to_the_next_term():
    assert group_search('NOT a="1" b="2"') == '(NOT a="1" AND b="2")'


def test_not_of_a_group():
    assert group_search('NOT (a="1" OR b="2")') == 'NOT (a="1" OR b="2")'


def test_in_list_is_one_term():
    assert group_search('a IN ("1", "2") b="3"') == '(a IN ("1", "2") AND b="3")'


def test_exists_comparison_and_match_all_terms():
    assert group_search('a=* b>=3 NOT c=*') == '(a=* AND b>=3 AND NOT c=*)'
    assert group_search("*") == "*"


def test_operators_inside_a_value_stay_in_the_value():
    assert group_search('a=") OR (b" c="NOT |x"') == '(a=") OR (b" AND c="NOT |x")'


def test_escaped_quote_and_backslash_are_copied_verbatim():
    assert group_search(r'a="q\"b\\" c="\\"') == r'(a="q\"b\\" AND c="\\")'


def test_commands_after_the_expression_are_kept_as_written():
    query = 'a="1" b="2"\n| regex c="(?is)^x|y(?!.)"\n| where \'d\'=\'e\' | table a,b'
    assert group_search(query) == '(a="1" AND b="2")\n| regex c="(?is)^x|y(?!.)"\n| where \'d\'=\'e\' | table a,b'


def test_regrouping_is_idempotent():
    once = group_search('a="1" b="2" OR (c="3" NOT d="4")')
    assert group_search(once) == once == '(a="1" AND (b="2" OR (c="3" AND NOT d="4")))'


@pytest.mark.parametrize(
    "text",
    [
        '"keyword"',  # an unbound value: the pipeline refuses keywords before this
        'a="1" OR',
        '(a="1"',
        'a="1")',
        'a="unterminated',
        'a~"1"',
        '"quoted field"="1"',
        'a IN "1"',
        "",
    ],
)
def test_text_outside_the_backend_subset_is_refused(text):
    with pytest.raises(GroupingError):
        group_search(text)


# --- the backend's tokens the reader relies on (pysigma-backend-splunk 2.1.0) ----------------------------


def test_backend_tokens_are_the_subset_the_reader_knows():
    """splunk_grouping is the documented exception to "pipelines do not rewrite text" because these are class
    attributes of the backend, which no pipeline can change (its module docstring). A backend release that changes
    one fails here, by name, before any search is regrouped wrongly."""
    from sigma.backends.splunk import SplunkBackend
    from sigma.conditions import ConditionAND, ConditionNOT, ConditionOR

    assert {
        name: getattr(SplunkBackend, name)
        for name in (
            "str_quote", "escape_char", "or_token", "and_token", "not_token", "group_expression",
            "field_in_list_expression", "list_separator", "compare_op_expression", "field_exists_expression",
            "deferred_only_query", "token_separator", "eq_token",
        )
    } == {
        "str_quote": '"', "escape_char": "\\", "or_token": "OR", "and_token": " ", "not_token": "NOT",
        "group_expression": "({expr})", "field_in_list_expression": "{field} {op} ({list})", "list_separator": ", ",
        "compare_op_expression": "{field}{operator}{value}", "field_exists_expression": "{field}=*",
        "deferred_only_query": "*", "token_separator": " ", "eq_token": "=",
    }
    assert SplunkBackend.precedence == (ConditionNOT, ConditionOR, ConditionAND)
    assert SplunkBackend.field_quote_pattern.pattern == r"^[\w.]+$"
