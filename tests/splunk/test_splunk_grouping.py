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
