"""The Athena and CloudTrail Lake backends, pySigma style: one behaviour per test, the expected SQL spelled out;
refusals with their reason; hostile values executed in DuckDB (through sqlglot) to read back exactly."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.athena import AthenaBackend, CloudTrailLakeBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import (
    SigmaFeatureNotSupportedByBackendError,
    SigmaTransformationError,
)
from sigma.pipelines.cloudtrail import (
    athena_cloudtrail_pipeline,
    cloudtrail_lake_cloudtrail_pipeline,
)

from . import tables


def rule(detection: str) -> str:
    return f"""
title: Test
id: 5f1b4d62-0000-4000-8000-000000000001
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
"""


def athena(detection: str) -> str:
    (sql,) = AthenaBackend(athena_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(rule(detection)))
    return sql


def lake(detection: str) -> str:
    (sql,) = CloudTrailLakeBackend(cloudtrail_lake_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(rule(detection)))
    return sql


def where(sql: str) -> str:
    """The rule's condition: the `AND (...)` line after the time range."""
    line = next(l for l in sql.splitlines() if l.startswith("  AND ("))
    return line[len("  AND (") : -1]


def test_athena_query_frame():
    assert athena("sel:\n    eventName: DeleteUser\ncondition: sel") == (
        "SELECT eventtime,\n       eventid,\n       eventsource,\n       eventname\n"
        "FROM cloudtrail_organization\n"
        "WHERE account IN (${ACCOUNT_IDS})\n"
        "  AND \"timestamp\" BETWEEN replace(substr('${START_TIME}', 1, 10), '-', '/')\n"
        "    AND date_format(date_add('day', 1, from_iso8601_date(substr('${END_TIME}', 1, 10))), '%Y/%m/%d')\n"
        "  AND eventtime >= replace('${START_TIME}', ' ', 'T') AND eventtime < replace('${END_TIME}', ' ', 'T')\n"
        "  AND (eventname = 'DeleteUser')\n"
        "ORDER BY eventtime, eventid"
    )


def test_lake_query_frame():
    assert lake("sel:\n    eventName: DeleteUser\ncondition: sel") == (
        "SELECT eventtime,\n       eventid,\n       eventsource,\n       eventname\n"
        "FROM ${EVENT_DATA_STORE_ID}\n"
        "WHERE eventtime >= TIMESTAMP '${START_TIME}' AND eventtime < TIMESTAMP '${END_TIME}'\n"
        "  AND (eventname = 'DeleteUser')\n"
        "ORDER BY eventtime, eventid"
    )


def test_canonical_case_field_is_exact_and_lower_cased():
    assert where(athena("sel:\n    eventSource: IAM.amazonaws.com\ncondition: sel")) == "eventsource = 'iam.amazonaws.com'"


def test_other_strings_compare_case_insensitively():
    assert where(athena("sel:\n    userIdentity.type: IAMUser\ncondition: sel")) == "lower(useridentity.type) = 'iamuser'"


def test_cased_modifier_is_exact():
    assert where(athena("sel:\n    userIdentity.type|cased: IAMUser\ncondition: sel")) == "useridentity.type = 'IAMUser'"


def test_request_parameter_is_json_extract_scalar_in_athena():
    assert where(athena("sel:\n    requestParameters.userName: Bob\ncondition: sel")) == (
        "lower(json_extract_scalar(requestparameters, '$.userName')) = 'bob'"
    )


def test_request_parameter_is_element_at_in_lake():
    assert where(lake("sel:\n    requestParameters.userName: Bob\ncondition: sel")) == (
        "lower(element_at(requestparameters, 'userName')) = 'bob'"
    )


def test_nested_request_parameter_in_lake_reads_the_json_text_of_the_key():
    assert where(lake("sel:\n    requestParameters.target.id: '1'\ncondition: sel")) == (
        "lower(json_extract_scalar(element_at(requestparameters, 'target'), '$.id')) = '1'"
    )


def test_key_outside_plain_names_uses_bracket_path():
    assert where(athena("sel:\n    requestParameters.x-y: a\ncondition: sel")) == (
        "lower(json_extract_scalar(requestparameters, '$[\"x-y\"]')) = 'a'"
    )


def test_wildcards_become_like_with_escape():
    assert where(athena("sel:\n    userAgent|contains: 50%_off\ncondition: sel")) == (
        "lower(useragent) LIKE '%50\\%\\_off%' ESCAPE '\\'"
    )


def test_not_keeps_events_without_the_field():
    assert where(athena("sel:\n    eventName: DeleteUser\nf:\n    errorCode: AccessDenied\ncondition: sel and not f")) == (
        "eventname = 'DeleteUser' AND NOT coalesce(lower(errorcode) = 'accessdenied', false)"
    )


def test_list_is_in():
    assert where(athena("sel:\n    eventName:\n        - DeleteUser\n        - CreateUser\ncondition: sel")) == (
        "eventname IN ('DeleteUser', 'CreateUser')"
    )


def test_case_variants_of_one_value_are_one_literal():
    """`invite` and `INVITE` (listed for the case-sensitive targets) once lowered are one value: not `IN ('invite',
    'invite')`, which Athena and Lake run but which says the value twice."""
    assert where(athena("sel:\n    userAgent:\n        - invite\n        - INVITE\ncondition: sel")) == "lower(useragent) = 'invite'"
    assert where(lake("sel:\n    userAgent:\n        - invite\n        - INVITE\n        - join\ncondition: sel")) == (
        "lower(useragent) IN ('invite', 'join')"
    )


_WORD = st.text(st.sampled_from("aAbBzZ'%_-"), min_size=1, max_size=4)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_WORD, min_size=2, max_size=6))
@example(values=["invite", "INVITE"])
@example(values=["a", "A", "a"])
@example(values=["'", "'"])
@example(values=["a_", "A_", "b"])
def test_a_value_list_names_each_folded_value_once_and_matches_as_before(values):
    """Whatever the list, each case-folded value appears once, and a record matches iff its value equals one of
    them ignoring case (the list compiled alone, so a single value left is `=`)."""
    items = "\n".join(f"        - {v!r}" for v in values)
    sql = athena(f"sel:\n    userAgent:\n{items}\ncondition: sel")
    condition = where(sql)
    distinct = list(dict.fromkeys(v.lower() for v in values))
    literals = ["'" + v.replace("'", "''") + "'" for v in distinct]
    assert condition == (f"lower(useragent) = {literals[0]}" if len(distinct) == 1 else f"lower(useragent) IN ({', '.join(literals)})")
    records = [{"eventVersion": "1.09", "eventID": f"e{i}", "eventTime": "2026-01-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
                "eventName": "DeleteUser", "userAgent": text} for i, text in enumerate([*values, *(v.upper() for v in values), "x"])]
    rows = tables.run_athena(sql, reloaded(tables.athena_db, records), accounts=["111122223333"])
    assert {r["eventid"] for r in rows} == {r["eventID"] for r in records if r["userAgent"].lower() in distinct}


def test_null_and_fieldref():
    assert where(
        athena("sel:\n    requestParameters.userName|fieldref: userIdentity.userName\n    errorCode: null\ncondition: sel")
    ) == "lower(json_extract_scalar(requestparameters, '$.userName')) = lower(useridentity.username) AND errorcode IS NULL"


def test_regex_is_regexp_like_with_flags():
    assert where(athena("sel:\n    userAgent|re|i: ^aws-cli/\ncondition: sel")) == "regexp_like(useragent, '(?i)^aws-cli/')"


def test_non_ascii_value_is_lowered_by_the_engine():
    assert where(athena("sel:\n    userAgent: ÄBC\ncondition: sel")) == "lower(useragent) = lower('ÄBC')"


def test_lake_boolean_column_compares_as_its_text():
    assert where(lake("sel:\n    readOnly: false\ncondition: sel")) == "lower(CAST(readonly AS varchar)) = 'false'"


def test_athena_boolean_is_the_string_column():
    assert where(athena("sel:\n    readOnly: false\ncondition: sel")) == "lower(readonly) = 'false'"


# ---- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "convert, detection, reason",
    [
        (athena, "sel:\n    managementEvent: 'true'", "managementEvent has no column in the Athena table"),
        (lake, "sel:\n    eventTime: '2025'", "eventtime is a timestamp in the event data store"),
        (athena, "sel:\n    requestParameters: x", "holds a JSON object or array"),
        (athena, "sel:\n    resources.0.ARN: x", "resources holds a JSON object or array|resources.0.ARN"),
        (athena, "sel:\n    requestParameters.items.0: x", "names an array element by position"),
        (athena, "sel:\n    - DeleteUser", "keyword"),
        (
            athena,
            "sel:\n    eventSource: lambda.amazonaws.com\n    requestParameters.layers: x",
            "requestParameters.layers is an array in lambda.amazonaws.com requests",
        ),
    ],
)
def test_refusal_has_one_reason(convert, detection, reason):
    with pytest.raises((SigmaFeatureNotSupportedByBackendError, SigmaTransformationError), match=reason):
        convert(detection + "\ncondition: sel")


def test_unknown_field_fails_the_conversion():
    with pytest.raises(SigmaTransformationError, match="src_ip do not exist in CloudTrail records"):
        athena("sel:\n    src_ip: 1.2.3.4\ncondition: sel")


# ---- hostile values: they round-trip through the SQL text, executed ----------------------------------------------

HOSTILE = st.text(alphabet=st.sampled_from(list("aZ'\"\\|/*?%_\n\t é€😀ıİ")), min_size=1, max_size=12)
NEIGHBOUR = "zz-not-it"


_DBS: dict = {}


def reloaded(load, rows: list[dict]):
    """One database per target for all hypothesis examples, refilled with `rows`."""
    _DBS[load] = load(rows, _DBS.get(load))
    return _DBS[load]


def records(value: str) -> list[dict]:
    base = {"eventVersion": "1.09", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}
    return [
        {**base, "eventID": "hit", "userAgent": value, "requestParameters": {"userName": value}},
        {**base, "eventID": "miss", "userAgent": value + NEIGHBOUR, "requestParameters": {"userName": NEIGHBOUR + value}},
    ]


def yaml_string(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def sigma_literal(value: str) -> str:
    """The value as Sigma reads it literally: `*`, `?` and `\\` escaped with `\\`."""
    return "".join("\\" + c if c in "*?\\" else c for c in value)


#: Known edge cases, run on every run as explicit examples: SQL's quote, LIKE's wildcards and escape, JSON path
#: characters, control characters, case variants.
EDGES = ["'", "''", "\\", "%", "_", "\\%", "a%b_c", '"', "|", "/", "*", "?", "\n", "\t", "$.x", "[0]", "aB", "ÉéßΣς", "日😀"]


def edge_examples(*cases):
    """Each case as an explicit hypothesis example: run first, on every run, whatever the random draw."""

    def apply(test):
        for case in reversed(cases):
            test = example(case)(test)
        return test

    return apply


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE)
@edge_examples(*EDGES)
def test_hostile_values_read_back_exactly(value):
    literal = yaml_string(sigma_literal(value))
    for convert, load, run in ((athena, tables.athena_db, tables.run_athena), (lake, tables.lake_db, tables.run_lake)):
        db = reloaded(load, records(value))
        for field in ("userAgent|cased", "requestParameters.userName|cased"):
            sql = convert(f"sel:\n    {field}: {literal}\ncondition: sel")
            assert {r["eventid"] for r in run(sql, db)} == {"hit"}, sql
        # a LIKE pattern: the value as a prefix, its own % and _ escaped
        sql = convert(f"sel:\n    userAgent|startswith|cased: {literal}\ncondition: sel")
        assert {r["eventid"] for r in run(sql, db)} == {"hit", "miss"}, sql
        sql = convert(f"sel:\n    requestParameters.userName|endswith|cased: {literal}\ncondition: sel")
        assert {r["eventid"] for r in run(sql, db)} == {"hit", "miss"}, sql


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("aZ'\\%_\n")), min_size=1, max_size=8))
@edge_examples("%", "_", "a%", "a_", "\\%", "%\\", "'%'", "a\n_", "__")
def test_like_escaping_never_lets_percent_or_underscore_match_other_text(value):
    """`x%` must not match `xy`: the text itself carries the ESCAPE, whatever sqlglot does with it."""
    literal = yaml_string(sigma_literal(value))
    sql = athena(f"sel:\n    userAgent|startswith|cased: {literal}\ncondition: sel")
    assert "ESCAPE '\\'" in sql
    other = value.replace("%", "Q").replace("_", "Q")
    rows = tables.run_athena(sql, reloaded(tables.athena_db, records(other)))
    expected = {"hit", "miss"} if other.startswith(value) else set()
    assert {r["eventid"] for r in rows} == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("aZq'\"\\|/%_\n ")), min_size=1, max_size=10))
@edge_examples("aZ", "Zq%", "q_Z", "'Z'", '"a"', "\\Z", "a|Z/", "A\nz")
def test_case_insensitive_match_with_hostile_ascii_values(value):
    """Without |cased, the record's value in other letter case matches exactly (equality and LIKE)."""
    literal = yaml_string(sigma_literal(value))
    swapped = value.swapcase()
    for convert, load, run in ((athena, tables.athena_db, tables.run_athena), (lake, tables.lake_db, tables.run_lake)):
        db = reloaded(load, records(swapped))
        sql = convert(f"sel:\n    requestParameters.userName: {literal}\ncondition: sel")
        assert {r["eventid"] for r in run(sql, db)} == {"hit"}, sql
        sql = convert(f"sel:\n    userAgent|startswith: {literal}\ncondition: sel")
        assert {r["eventid"] for r in run(sql, db)} == {"hit", "miss"}, sql


def test_global_region_option_pins_iam_and_organizations_rules_only():
    """IAM/Organizations rules read the Region folder CloudTrail records them in (us-east-1, or the option's for
    another partition); a rule that allows any other event source (or none in particular) reads every Region."""
    def convert(detection: str, **options) -> str:
        (sql,) = AthenaBackend(athena_cloudtrail_pipeline(), **options).convert(SigmaCollection.from_yaml(rule(detection)))
        return sql

    iam = "sel:\n    eventSource: iam.amazonaws.com\n    eventName: DeleteUser\ncondition: sel"
    assert "  AND region = 'us-east-1'\n" in convert(iam)
    assert "  AND region = 'cn-north-1'\n" in convert(iam, global_region="cn-north-1")
    both = "sel:\n    eventSource:\n        - iam.amazonaws.com\n        - organizations.amazonaws.com\ncondition: sel"
    assert "region = 'us-east-1'" in convert(both)
    for open_ended in (
        "sel:\n    eventSource:\n        - iam.amazonaws.com\n        - sso-directory.amazonaws.com\ncondition: sel",
        "sel:\n    eventName: DeleteUser\ncondition: sel",
        "sel:\n    eventSource: iam.amazonaws.com\nother:\n    eventName: X\ncondition: sel or other",
        "sel:\n    eventSource|startswith: iam\ncondition: sel",
        "sel:\n    eventSource: iam.amazonaws.com\ncondition: not sel",
    ):
        assert "region =" not in convert(open_ended), open_ended
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="global_region"):
        AthenaBackend(athena_cloudtrail_pipeline(), global_region="us-east-1' OR 1=1")
