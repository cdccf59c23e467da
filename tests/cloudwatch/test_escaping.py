"""Property-based escaping tests: hostile rule values (quotes, backslashes, slashes, regex metacharacters, Sigma
wildcards written literally, newlines, control characters, unicode) are compiled, the evaluator parses the query
back to exactly the value the rule holds, the query matches a record holding that value, and no near miss.

Expected matches come from an oracle written from Sigma's definition (exact / substring / prefix / suffix, case-
insensitive unless |cased) - not from the backend's code.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from evaluators import logs_insights as li
from evaluators import metric_filter as mf

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = "2026-11-23T10:00:00Z"

HOSTILE = '"\'\\/*?.^$+()[]{}|`#%&;:,=<>!~@- \t\n\r\x00\x1b\x7f\u2028'
values = st.text(
    alphabet=st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from("aZxÉéßİıΣσς日本\U0001f600"),
        st.characters(min_codepoint=0x20, max_codepoint=0x2FF),
    ),
    max_size=12,
)


#: Known edge cases, run on every run as explicit examples: each character the query text or a regex must escape,
#: Sigma's wildcards written literally, control characters and line separators, and case variants (ASCII, and the
#: letters whose case forms are not one to one).
EDGES = [
    '"', "'", "\\", "|", "/", "*", "?", "\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\u2028", "`", "#", "%",
    ".", "^", "$", "+", "(", ")", "[", "]", "{", "}", "a.b", "a|b", "a/b", "a*b", "a?b", "(x)", "[ab]", "x{2}", "\\d",
    '\\"', '"\\', "\\/", "/*", "aB", "Ab|C", "É", "é", "ß", "İ", "ı", "Σς", "日本", "\U0001f600", "",
]


def examples(*cases):
    """Each case (a dict of arguments) as an explicit hypothesis example: run first, on every run."""

    def apply(test):
        for case in reversed(cases):
            test = example(**case)(test)
        return test

    return apply


def sigma_escape(value: str) -> str:
    """The rule text for a literal value: Sigma's escape character before `\\`, `*` and `?`."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def compile_rule(field: str, modifiers: str, value: str, fmt: str = "default", keyword: bool = False) -> str:
    detection = {"keywords": [sigma_escape(value)], "condition": "keywords"} if keyword else {
        "sel": {field + modifiers: sigma_escape(value)},
        "condition": "sel",
    }
    rule = {
        "title": "Hostile",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
    }
    (out,) = CloudWatchLogsInsightsBackend().convert(SigmaCollection.from_dicts([rule]), fmt)
    return out


def predicate(query: str):
    """The single field predicate of the query's filter command."""
    filters = li.parse(query).filters()
    assert len(filters) == 1
    return filters[0]


# ---- the oracle -------------------------------------------------------------------------------------------------


def char_equal(a: str, b: str, fold: bool) -> bool:
    if a == b:
        return True
    if not fold:
        return False
    forms = lambda c: {f for f in (c, c.lower(), c.upper(), c.casefold(), c.swapcase()) if len(f) == 1}  # noqa: E731
    return b in forms(a) or a in forms(b)


def equal_at(text: str, value: str, at: int, fold: bool) -> bool:
    return at + len(value) <= len(text) and all(char_equal(text[at + i], c, fold) for i, c in enumerate(value))


def sigma_match(kind: str, value: str, text: str, fold: bool) -> bool:
    if kind == "exact":
        return len(text) == len(value) and equal_at(text, value, 0, fold)
    if kind == "startswith":
        return equal_at(text, value, 0, fold)
    if kind == "endswith":
        return len(text) >= len(value) and equal_at(text, value, len(text) - len(value), fold)
    return any(equal_at(text, value, i, fold) for i in range(len(text) - len(value) + 1))


def candidates(value: str) -> list[str]:
    near = [value, value + "x", "x" + value, value + "\n", "\n" + value, value[:-1], value[1:], "pre" + value + "post"]
    near.append("".join(c.swapcase() if c.isascii() else c for c in value))
    return list(dict.fromkeys(near))


def has_case(text: str) -> bool:
    return any(c.lower() != c or c.upper() != c or c.casefold() != c for c in text)


# ---- value matching ----------------------------------------------------------------------------------------------

MODIFIERS = {"exact": "", "contains": "|contains", "startswith": "|startswith", "endswith": "|endswith"}


@SETTINGS
@given(value=values, kind=st.sampled_from(sorted(MODIFIERS)), cased=st.booleans())
@examples(*[{"value": v, "kind": k, "cased": c} for v in EDGES for k in ("exact", "contains") for c in (False, True)])
@examples(*[{"value": v, "kind": k, "cased": False} for v in ("a|b", "a.b", "aB/", "*É") for k in ("startswith", "endswith")])
def test_string_values_round_trip_and_match_exactly_what_sigma_matches(value, kind, cased):
    assume(kind == "exact" or value)  # an empty contains/startswith is "any value": covered elsewhere
    query = compile_rule("requestParameters.name", MODIFIERS[kind] + ("|cased" if cased else ""), value)
    node = predicate(query)
    fold = not cased and has_case(value)

    # parsed back to exactly the rule's value
    if isinstance(node, li.Compare):
        assert kind == "exact" and node.op == "=" and node.right == li.Lit(value) and not fold
    elif isinstance(node, li.Like) and isinstance(node.pattern, li.Lit):
        assert kind == "contains" and node.pattern.value == value and not fold
    else:
        assert isinstance(node, li.Like) and isinstance(node.pattern, li.RegexLit)
        flags, start, end, parts = li.decode_literal_regex(node.pattern.source)
        assert ("i" in flags) == fold
        assert (start, end) == {"exact": (True, True), "startswith": (True, False), "endswith": (False, True), "contains": (False, False)}[kind]
        assert len(parts) == len(value)
        for part, char in zip(parts, value):
            assert part == char or (isinstance(part, frozenset) and char in part and fold)
    assert node.operand == li.Field("requestParameters.name") if isinstance(node, li.Like) else True

    # matches the record holding the value, and no near miss
    for text in candidates(value):
        record = {"eventTime": T, "requestParameters": {"name": text}}
        assert li.matches(query, record) == sigma_match(kind, value, text, fold), repr(text)


@SETTINGS
@given(value=values)
@examples(*[{"value": v} for v in EDGES])
def test_regex_values_keep_their_meaning(value):
    """A rule regex is written between slashes with `/` escaped; it still matches what the rule's regex does."""
    import re

    regex = re.escape(value)
    rule = {
        "title": "Hostile regex",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {"userAgent|re": regex}, "condition": "sel"},
    }
    (query,) = CloudWatchLogsInsightsBackend().convert(SigmaCollection.from_dicts([rule]))
    node = predicate(query)
    assert isinstance(node, li.Like) and isinstance(node.pattern, li.RegexLit)
    for text in candidates(value):
        expected = re.search(regex, text) is not None
        assert li.matches(query, {"eventTime": T, "userAgent": text}) == expected, repr(text)


@SETTINGS
@examples(*[{"value": v} for v in EDGES if v and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028" for c in v)])
@given(value=values.filter(lambda v: v and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in v)))
def test_keywords_match_the_value_inside_the_event_json(value):
    """A keyword is searched in @message, the event's JSON text, where `"` and `\\` appear backslash-escaped."""
    import json

    query = compile_rule("", "", value, keyword=True)
    fold = has_case(value)
    encoded = json.dumps(value, ensure_ascii=False)[1:-1]
    for text in candidates(value):
        record = {"eventTime": T, "requestParameters": {"policy": text}}
        message = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        assert li.matches(query, record) == sigma_match("contains", encoded, message, fold), repr(text)


def test_keywords_with_control_characters_are_refused():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="control characters"):
        compile_rule("", "", "a\nb", keyword=True)


field_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_$@-]{0,8}(\.[A-Za-z0-9_$@-]{1,8}){0,2}", fullmatch=True)


@SETTINGS
@given(name=field_names)
@examples(*[{"name": n} for n in ("a", "a-b", "a$b", "a@b", "and", "or", "not", "like", "in", "by", "a.b-c.d", "x_1.$y")])
def test_field_names_round_trip(name):
    query = compile_rule(name, "|cased", "v")
    node = predicate(query)
    assert node == li.Compare("=", li.Field(name), li.Lit("v"))


# ---- metric filter patterns -----------------------------------------------------------------------------------------


@SETTINGS
@given(value=values, kind=st.sampled_from(sorted(MODIFIERS)))
@examples(*[{"value": v, "kind": k} for v in EDGES for k in ("exact", "contains")])
def test_metric_filter_values_round_trip_or_are_refused(value, kind):
    try:
        pattern = compile_rule("requestParameters.name", MODIFIERS[kind] + "|cased", value, "metric_filter")
    except SigmaFeatureNotSupportedByBackendError as e:
        # refused only for what the pattern language cannot hold
        assert (
            any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value)
            or value.startswith("*")
            or value.endswith("*")
            or (kind != "exact" and not value)
        ), str(e)
        return
    node = mf.parse(pattern).root
    assert isinstance(node, mf.Comparison) and node.selector == mf.Selector(("requestParameters", "name"))
    assert node.value.text == value
    assert (node.value.lead, node.value.trail) == {
        "exact": (False, False),
        "startswith": (False, True),
        "endswith": (True, False),
        "contains": (True, True),
    }[kind] or (not value and node.value.lead)
    for text in candidates(value):
        record = {"requestParameters": {"name": text}}
        assert mf.matches(pattern, record) == sigma_match(kind, value, text, False), repr(text)


# ---- the regex text with Python's own engine ------------------------------------------------------------------------


def python_regex(pcre: str):
    """The Logs Insights regex in Python's `re`: the same syntax for what value_regex writes (escapes, `\\A`, scoped
    `(?-i:...)` groups, two-digit `\\x` escapes) except PCRE's end-of-subject `\\z` and wide `\\x{hhhh}`, which
    Python spells `\\Z` and `\\uhhhh`."""
    import re

    text = re.sub(r"(?<!\\)((?:\\\\)*)\\x\{([0-9a-f]{4})\}", r"\1\\u\2", pcre)
    return re.compile(re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", text))


@pytest.mark.parametrize("kind", sorted(MODIFIERS))
@pytest.mark.parametrize("value", [v for v in EDGES if v], ids=repr)
def test_value_regex_text_matches_what_sigma_matches_in_pythons_engine(value, kind):
    """An engine we did not write on the exact regex text the backend embeds: every edge value, every modifier, folded
    and cased, against its near misses (the oracle is Sigma's definition, above)."""
    from sigma.backends.cloudwatch.literals import value_regex
    from sigma.types import SigmaCasedString, SigmaString

    for cased in (False, True):
        string = (SigmaCasedString if cased else SigmaString)(sigma_escape(value))
        pattern = python_regex(value_regex(string, anchor_start=kind in ("exact", "startswith"), anchor_end=kind in ("exact", "endswith")))
        fold = not cased and has_case(value)
        for text in candidates(value):
            assert (pattern.search(text) is not None) == sigma_match(kind, value, text, fold), (pattern.pattern, text)
