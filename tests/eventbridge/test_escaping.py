"""Hostile values (quotes, backslashes, `|`, `/`, `*`, `?`, newlines, unicode) read back exactly: the pattern is
valid JSON whose matcher holds the value unchanged, moto's matcher finds an event holding exactly that value, and
not one holding a near miss. Wildcards escape `*` and `\\` as Event Ruler requires."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sigma.backends.eventbridge import EventBridgeBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.cloudtrail import eventbridge_cloudtrail_pipeline

from .conftest import moto_matches, wrap

HOSTILE = st.text(
    st.one_of(st.sampled_from('"\\|/*?\n\r\t\' {}[]$<>'), st.characters(codec="utf-8", exclude_categories=("Cs",))),
    min_size=1,
    max_size=12,
)
SETTINGS = settings(max_examples=150, deadline=None)
#: Known edge cases, run on every run as explicit examples: JSON's escapes, Event Ruler's wildcard escapes, control
#: characters, and case variants (the case-insensitive matcher).
EDGES = ['"', "\\", "|", "/", "*", "?", "\n", "\r", "\t", "\x00", "\u2028", "\\*", "*\\", "a*b?", '\\"', "{}", "[]",
         "$.x", "<>", "aB", "Éé", "ß", "İı", "日本😀"]


def examples(*cases):
    """Each case (a tuple of arguments) as an explicit hypothesis example: run first, on every run."""

    def apply(test):
        for case in reversed(cases):
            test = example(*case)(test)
        return test

    return apply


def sigma_escaped(value: str) -> str:
    """The value as a Sigma string literal: `*`, `?` and `\\` escaped with a backslash."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def pattern_for(field_spec: str, value: str) -> dict:
    rule = {
        "title": "t",
        "id": "5f1b4d62-0000-4000-8000-000000000004",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {field_spec: value}, "condition": "sel"},
    }
    (text,) = EventBridgeBackend(eventbridge_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([rule]))
    return json.loads(text)


def event(value) -> dict:
    return wrap({"eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "X",
                 "eventID": "e1", "userAgent": value})


@SETTINGS
@given(HOSTILE)
@examples(*[(e,) for e in EDGES])
def test_exact_value_round_trips(value):
    pattern = pattern_for("userAgent|cased", sigma_escaped(value))
    assert pattern["detail"] == {"userAgent": [value]}
    text = json.dumps(pattern)
    assert moto_matches(text, event(value))
    assert not moto_matches(text, event(value + "x"))


@SETTINGS
@given(HOSTILE)
@examples(*[(e,) for e in EDGES])
def test_case_insensitive_value_round_trips(value):
    pattern = pattern_for("userAgent", sigma_escaped(value))
    (matcher,) = pattern["detail"]["userAgent"]
    assert matcher in (value, {"equals-ignore-case": value})
    text = json.dumps(pattern)
    assert moto_matches(text, event(value))
    assert not moto_matches(text, event("x" + value))


@SETTINGS
@given(HOSTILE, st.text(st.sampled_from("abc-./"), max_size=3), st.text(st.sampled_from("abc-./"), max_size=3))
@examples(*[(e, "a", "/") for e in EDGES], ("*", "", ""), ("\\", "a\\", ""))
def test_contains_value_round_trips_through_wildcard_escapes(value, before, after):
    pattern = pattern_for("userAgent|cased|contains", sigma_escaped(value))
    (matcher,) = pattern["detail"]["userAgent"]
    assert matcher == {"wildcard": "*" + value.replace("\\", "\\\\").replace("*", "\\*") + "*"}
    text = json.dumps(pattern)
    assert moto_matches(text, event(before + value + after))
    assert not moto_matches(text, event(before + after)) or value in before + after
