"""Hostile values: a rule whose value holds quotes, backslashes, pipes, asterisks, question marks,
backticks, newlines and other control characters, or non-ASCII text compiles into a search that, written
into savedsearches.conf and read back, (1) the evaluator parses back to exactly the original value and
(2) matches exactly the records that hold the value (case-insensitively, as Sigma does)."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from cloudtrail_pack.artifacts.splunk import conf_stanza
from cloudtrail_pack.targets import TARGETS, backend_for
from evaluators.spl import RegexArgs, SplunkEvaluator, Term, parse_conf
from sigma.pipelines.cloudtrail.splunk import FILTER_DEFINITION, SCOPE_DEFINITION

FIELD = "requestParameters.userName"
# ASCII punctuation and controls, plus non-ASCII letters whose upper and lower case map one to one.
ALPHABET = list("aBz09 _-.:/\"'\\|*?`=()[]{}<>,;!$%&#~^@+\n\r\t\x00\x7f") + list("éÉüжЖΩω日😀\u2028\x85")
VALUES = st.text(st.sampled_from(ALPHABET), min_size=1, max_size=10)
EVALUATOR = SplunkEvaluator({"cloudtrail": SCOPE_DEFINITION, "hostile_filter": FILTER_DEFINITION})
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sigma_literal(value: str) -> str:
    """A Sigma string that means exactly `value`: escape the wildcards and the escape character."""
    return re.sub(r"([*?\\])", r"\\\1", value)


def compile_search(detection: dict) -> str:
    rule = {
        "title": "Hostile",
        "id": str(uuid.UUID(int=1)),
        "name": "hostile",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
        "level": "low",
    }
    (search,) = backend_for(TARGETS["splunk"]).convert(SigmaCollection.from_dicts([rule]))
    return search


def through_conf(search: str) -> str:
    """The search as Splunk reads it back from the savedsearches.conf the writer produces."""
    stanza = conf_stanza("Hostile", {"search": search})
    assert "\r" not in stanza
    return parse_conf(stanza)["Hostile"]["search"]


def record(i: int, value: str | None) -> dict:
    r = {"eventID": f"e{i}", "eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "X"}
    if value is not None:
        r["requestParameters"] = {"userName": value}
    return r


def candidates(value: str) -> list[str]:
    out = [value, value.upper(), value.lower(), value + "x", "x" + value, value + "\n", " " + value, "*"]
    if len(value) > 1:
        out += [value[:-1], value[1:], value[::-1]]
    return out


def decode_exact_regex(pattern: str) -> str:
    """The literal an exact regex `(?is)^...(?!.)` of the pipeline stands for."""
    m = re.fullmatch(r"\(\?is\)\^(.*)\(\?!\.\)", pattern, re.DOTALL)
    assert m, pattern
    out, body, i = [], m.group(1), 0
    while i < len(body):
        if body[i] == "\\":
            if body[i + 1] == "x":
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
            else:
                out.append(body[i + 1])
                i += 2
        else:
            assert body[i] not in ".*?+()[]{}^$|", f"unescaped metacharacter in {pattern!r}"
            out.append(body[i])
            i += 1
    return "".join(out)


def read_back(search: str) -> str:
    """The value the evaluator parsed out of the search for FIELD."""
    commands = EVALUATOR.parse(search)
    regexes = [c.node for c in commands if isinstance(c.node, RegexArgs) and c.node.field == FIELD]
    if regexes:
        (args,) = regexes
        return decode_exact_regex(args.pattern)
    (term,) = [t for t in commands[0].node.args if isinstance(t, Term) and t.field == FIELD]
    (value,) = term.values
    assert value.quoted and "*" not in value.text
    return value.text


@SETTINGS
@given(VALUES)
def test_equality_reads_back_and_matches_exactly(value):
    search = through_conf(compile_search({"selection": {FIELD: sigma_literal(value)}, "condition": "selection"}))
    assert read_back(search) == value
    values = candidates(value)
    records = [record(i, v) for i, v in enumerate(values)] + [record(len(values), None)]
    rows = EVALUATOR.run(search, records)
    matched = {records[i]["eventID"] for row in rows for i in row.sources}
    assert matched == {f"e{i}" for i, v in enumerate(values) if v.lower() == value.lower()}


@SETTINGS
@given(VALUES)
def test_startswith_matches_exactly_the_prefixed_values(value):
    search = through_conf(
        compile_search({"selection": {f"{FIELD}|startswith": sigma_literal(value)}, "condition": "selection"})
    )
    values = candidates(value)
    records = [record(i, v) for i, v in enumerate(values)]
    rows = EVALUATOR.run(search, records)
    matched = {records[i]["eventID"] for row in rows for i in row.sources}
    assert matched == {f"e{i}" for i, v in enumerate(values) if v.lower().startswith(value.lower())}


@SETTINGS
@given(VALUES, VALUES)
def test_value_list_matches_either_or_is_refused(first, second):
    detection = {"selection": {FIELD: [sigma_literal(first), sigma_literal(second)]}, "condition": "selection"}
    needs_regex = any(c in "*`" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in first + second)
    if needs_regex:
        with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="under OR"):
            compile_search(detection)
        return
    search = through_conf(compile_search(detection))
    values = candidates(first) + candidates(second)
    records = [record(i, v) for i, v in enumerate(values)]
    rows = EVALUATOR.run(search, records)
    matched = {records[i]["eventID"] for row in rows for i in row.sources}
    wanted = {first.lower(), second.lower()}
    assert matched == {f"e{i}" for i, v in enumerate(values) if v.lower() in wanted}
