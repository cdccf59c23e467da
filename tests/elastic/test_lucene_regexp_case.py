"""EQL writes every regular expression case-insensitively (`regex~`, ASCII case): a pattern is refused there only when
that changes what it matches. A character class holding both cases of each ASCII letter in it ([Ss]) matches the same
either way; it was refused as case-sensitive, which cost EQL a rule spelled that way for EventBridge (no flags)."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sigma.pipelines.cloudtrail.lucene_regexp import RegexUnsupported, lucene_regexp


def test_a_class_with_both_cases_of_each_letter_is_not_case_sensitive():
    assert lucene_regexp("^[Ss][Tt][Aa]-[Ee][Xx]", 0)[1] is False
    assert lucene_regexp("[A-Za-z0-9_]+", 0)[1] is False


def test_a_class_or_literal_missing_a_case_is_case_sensitive():
    assert lucene_regexp("[Ss]t", 0)[1] is True  # the literal t
    assert lucene_regexp("[S]", 0)[1] is True
    assert lucene_regexp("[a-z]", 0)[1] is True
    assert lucene_regexp("[^s]", 0)[1] is True


_ITEMS = st.sampled_from(["[Ss]", "[sS]", "[S]", "[s]", "[A-Za-z]", "[a-z]", "[^Kk]", "[^k]", "s", "K", "-", "[0-9]", "[Ss-]", "[a-zA-Z0-9]"])
_INPUT = st.text(st.sampled_from(list("sSkKaZz09-_")), max_size=4)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(items=st.lists(_ITEMS, min_size=1, max_size=4), text=_INPUT)
@example(items=["[Ss]"], text="s")
@example(items=["[^Kk]"], text="K")
@example(items=["[a-z]"], text="Z")
@example(items=["[Ss-]"], text="S")
def test_not_case_sensitive_means_ascii_case_changes_no_verdict(items, text):
    """What the writer calls not case-sensitive matches, on ASCII input, exactly what it matches ignoring case."""
    pattern = "".join(items)
    try:
        _, case_sensitive = lucene_regexp(pattern, 0)
    except RegexUnsupported:
        return
    if not case_sensitive:
        assert (re.search(pattern, text) is None) == (re.search(pattern, text, re.I | re.A) is None)
