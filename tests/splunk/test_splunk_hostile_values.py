"""Hostile values: a rule whose value holds quotes, backslashes, pipes, asterisks, question marks,
backticks, newlines and other control characters, or non-ASCII text compiles into a search that, written
into savedsearches.conf and read back, (1) the evaluator parses back to exactly the original value and
(2) matches exactly the records that hold the value (case-insensitively, as Sigma does).

The same holds under the pipeline's boolean regrouping (splunk_grouping): for generated conditions of
and/or/not over selections whose values look like SPL (`" OR "`, `) (`, `NOT `, `IN (`, quotes,
backslashes, pipes), the shipped search is the backend's expression with the same tree, the same tree
under where/eval precedence, and matches exactly the records Sigma's condition selects."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from cloudtrail_pack.artifacts.splunk import conf_stanza
from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import backend_for
from evaluators.spl import RegexArgs, SplunkEvaluator, Term, _number, parse_conf, parse_search_expr
from sigma.backends.splunk import SplunkBackend
from sigma.pipelines.cloudtrail.splunk import FILTER_DEFINITION, SCOPE_DEFINITION, SCOPE_MACRO, splunk_cloudtrail_pipeline

FIELD = "requestParameters.userName"
# ASCII punctuation and controls, plus non-ASCII letters whose upper and lower case map one to one.
ALPHABET = list("aBz09 _-.:/\"'\\|*?`=()[]{}<>,;!$%&#~^@+\n\r\t\x00\x7f") + list("éÉüжЖΩω日😀\u2028\x85")
VALUES = st.text(st.sampled_from(ALPHABET), min_size=1, max_size=10)
#: Known edge cases, run on every run as explicit examples: each character a search string or a regex must escape
#: (alone, and where a `*` or backtick sends the value through the exact `| regex`), control characters, case
#: variants, and text that looks like SPL.
EDGES = [
    '"', "\\", "|", "/", "*", "?", "`", "\n", "\r", "\t", "\x00", "\x7f", "=", "(", ")", "'",
    '\\"', '"\\', "a*b", "a?b", "*.", "*|", "*^$", "*(a)", "*[x]", "*{2}", "*+", "*/", "*\\", "*\n", "`|`",
    "aB", "aB*", "Éé", "Жж*", ' OR "', ") OR (", "NOT ", "IN (", "\u2028", "\x85", "日😀",
]
EVALUATOR = SplunkEvaluator({SCOPE_MACRO: SCOPE_DEFINITION, "cloudtrail_detection_pack_hostile_filter": FILTER_DEFINITION})
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def examples(*cases):
    """Each case as an explicit hypothesis example: run first, on every run, whatever the random draw."""

    def apply(test):
        for case in reversed(cases):
            test = example(*case if isinstance(case, tuple) else (case,))(test)
        return test

    return apply


def sigma_literal(value: str) -> str:
    """A Sigma string that means exactly `value`: escape the wildcards and the escape character."""
    return re.sub(r"([*?\\])", r"\\\1", value)


def hostile_rule(detection: dict) -> dict:
    return {
        "title": "Hostile",
        "id": str(uuid.UUID(int=1)),
        "name": "hostile",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
        "level": "low",
    }


def compile_search(detection: dict) -> str:
    (search,) = backend_for(TARGETS["splunk"]).convert(SigmaCollection.from_dicts([hostile_rule(detection)]))
    return search


def backend_expression(detection: dict) -> str:
    """What pysigma-backend-splunk alone writes: the pipeline without its post-processing."""
    pipeline = splunk_cloudtrail_pipeline()
    pipeline.postprocessing_items = []
    (search,) = SplunkBackend(processing_pipeline=pipeline).convert(SigmaCollection.from_dicts([hostile_rule(detection)]))
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
@examples(*EDGES)
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
@examples(*EDGES)
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
@examples(*[(edge, "aB") for edge in EDGES], ('" OR "', '"'), ("\\", '\\"'), ("a|b", "a"), ("*", "x"), ("x", "`"))
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


# --- boolean regrouping ------------------------------------------------------------------------------------

#: Values the search command cannot tell from syntax unless they stay inside their quotes.
SPL_LOOKALIKES = st.lists(
    st.sampled_from(list("aBz09 _-.:/\"'\\|=()[]{}<>,;!$%&#~^@+éЖ日") + [" OR ", " AND ", "NOT ", ") OR (", "IN (", '" OR "']),
    min_size=1,
    max_size=6,
).map("".join)
#: One field per selection, so that any truth assignment of the selections is one record.
SELECTION_FIELDS = ("requestParameters.userName", "userIdentity.arn", "errorCode", "userAgent")
CONDITIONS = st.recursive(
    st.sampled_from(["s0", "s1", "s2", "s3"]),
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner), st.tuples(st.just("or"), inner, inner), st.tuples(st.just("not"), inner)
    ),
    max_leaves=6,
)
#: Conditions and SPL look-alike values run on every run: every operator, nesting under NOT, and values that would
#: change the search's grouping if they escaped their quotes.
CONDITION_EDGES = [
    (("or", "s0", ("and", "s1", "s2")), ['" OR "', ") OR (", "NOT ", "IN (", '\\"']),
    (("and", ("or", "s0", "s1"), ("not", "s3")), ["a", "b OR c", '"', "\\", "x|y"]),
    (("not", ("or", ("and", "s0", "s1"), ("not", "s2"))), ["(", ")", "NOT ", " AND ", "="]),
    (("or", ("not", "s3"), "s0"), ["é", "Ж", '" OR "', "[x]", "{y}"]),
]


def sigma_condition(c) -> str:
    if isinstance(c, str):
        return c
    if c[0] == "not":
        return f"not ({sigma_condition(c[1])})"
    return f"({sigma_condition(c[1])} {c[0]} {sigma_condition(c[2])})"


def holds(c, truth: dict[str, bool]) -> bool:
    if isinstance(c, str):
        return truth[c]
    if c[0] == "not":
        return not holds(c[1], truth)
    return (all if c[0] == "and" else any)(holds(x, truth) for x in c[1:])


def expression_of(search: str) -> str:
    """The regrouped expression between the scope macro and the tuning macro."""
    head = f"`{SCOPE_MACRO}` "
    assert search.startswith(head) and search.endswith("\n| `cloudtrail_detection_pack_hostile_filter`"), search
    return search[len(head) : -len("\n| `cloudtrail_detection_pack_hostile_filter`")]


@SETTINGS
@given(CONDITIONS, st.lists(SPL_LOOKALIKES, min_size=5, max_size=5))
@examples(*CONDITION_EDGES)
def test_regrouped_search_is_the_backend_expression_under_either_precedence(condition, values):
    detection = {f"s{i}": {SELECTION_FIELDS[i]: sigma_literal(values[i])} for i in range(3)}
    detection["s3"] = {SELECTION_FIELDS[3]: [sigma_literal(values[3]), sigma_literal(values[4])]}
    detection["condition"] = sigma_condition(condition)
    search = through_conf(compile_search(detection))
    backend = parse_search_expr(backend_expression(detection))
    ours = expression_of(search)
    assert parse_search_expr(ours) == backend
    assert parse_search_expr(ours, precedence="eval") == backend
    (scope, expr) = EVALUATOR.parse(search)[0].node.args
    assert expr == backend


@SETTINGS
@given(CONDITIONS, st.lists(SPL_LOOKALIKES, min_size=5, max_size=5))
@examples(*CONDITION_EDGES)
def test_regrouped_search_matches_what_the_sigma_condition_selects(condition, values):
    detection = {f"s{i}": {SELECTION_FIELDS[i]: sigma_literal(values[i])} for i in range(3)}
    detection["s3"] = {SELECTION_FIELDS[3]: [sigma_literal(values[3]), sigma_literal(values[4])]}
    detection["condition"] = sigma_condition(condition)
    search = through_conf(compile_search(detection))
    records, wanted = [], set()
    for n in range(16):
        truth = {f"s{i}": bool(n >> i & 1) for i in range(4)}
        r = record(n, None)
        for i, name in enumerate(SELECTION_FIELDS):
            # a non-matching value differs case-insensitively; absent for every other record
            other = values[i] + (values[4] if i == 3 else "") + "x"  # longer than every value of s{i}
            value = values[i] if truth[f"s{i}"] else (other if n % 2 else None)
            if value is not None:
                head, tail = name.split(".", 1) if "." in name else (name, None)
                if tail:
                    r.setdefault(head, {})[tail] = value
                else:
                    r[head] = value
        records.append(r)
        if holds(condition, truth):
            wanted.add(f"e{n}")
    rows = EVALUATOR.run(search, records)
    assert {records[i]["eventID"] for row in rows for i in row.sources} == wanted


# --- a plain value beside a field reference: a `| where` string ----------------------------------------------

#: ASCII only: `lower()` of a letter outside ASCII is undefined in Splunk (the evaluator refuses it).
WHERE_ALPHABET = [c for c in ALPHABET if c.isascii()]
WHERE_VALUES = st.text(st.sampled_from(WHERE_ALPHABET), min_size=1, max_size=10)
WHERE_EDGES = [e for e in EDGES if e.isascii()] + ["\\*", "x\\", "Ab|C"]


def where_search(value: str) -> str:
    """A rule whose plain value sits in the selection holding a field reference: the pipeline writes it into the
    `| where` clause as an eval string."""
    detection = {
        "base": {"eventName": "X"},
        "sel": {"requestParameters.userName|fieldref": "userIdentity.userName", "errorCode": sigma_literal(value)},
        "condition": "base and sel",
    }
    return through_conf(compile_search(detection))


def _refused_in_where(value: str) -> bool:
    return any(c == "`" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)


@SETTINGS
@given(WHERE_VALUES)
@examples(*WHERE_EDGES)
def test_where_string_beside_a_field_reference_matches_exactly(value):
    """Behaviour of the shipped text: the evaluator parses the `| where` string as Splunk's eval does (`\\\\` and
    `\\"` its only escapes) and it matches the records whose value equals the rule's, ignoring case; a control
    character or backtick, which an eval string cannot carry, is refused with the reason."""
    if _refused_in_where(value):
        with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="cannot carry"):
            where_search(value)
        return
    search = where_search(value)
    # the evaluator compares two number-like texts numerically (" 0" == "0"); leave such near misses out
    values = [v for v in candidates(value) if v == value or _number(v) is None or _number(value) is None]
    records = []
    for i, v in enumerate(values):
        r = record(i, "bob")
        r["userIdentity"] = {"userName": "BOB"}
        r["errorCode"] = v
        records.append(r)
    rows = EVALUATOR.run(search, records)
    matched = {records[i]["eventID"] for row in rows for i in row.sources}
    assert matched == {f"e{i}" for i, v in enumerate(values) if v.lower() == value.lower()}

