"""Hostile rule values cannot break out of a Lucene, EQL or ES|QL query: for any value (quotes,
backslashes, pipes, wildcard characters, line breaks, operators, unicode) the compiled query, parsed back by
each language's evaluator, is one comparison of the mapped field with exactly the original value; or the
pipeline refuses the rule for one of its documented reasons."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from evaluators import esql, lucene
from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline

import elastic_eql

SPECIAL = list('"\'\\|*?:()[]{}<>^~!&+-=/ \t\n\r\u3000`,.#@$%;\u00e9\u4e2d\U0001f600\u200b')
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(SPECIAL),
        st.sampled_from(["AND", "OR", "NOT", "TO", "and", "none", "-"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    min_size=1,
    max_size=10,
).map("".join)

REFUSALS = {
    "lucene": ("read as an operator", "deletes the value"),
    "eql": ("literal * or ?", "deletes the value"),
    "esql": ("deletes the value",),
}

FIELDS = {
    "userAgent": "user_agent.original",
    "requestParameters.userName": "user.target.name",
    "requestParameters.roleName": "aws.cloudtrail.flattened.request_parameters.roleName",
}
#: EQL refuses flattened keys (test_elastic_type_refusals.py): its hostile values go to keyword fields.
EQL_FIELDS = {"userAgent": "user_agent.original", "errorMessage": "aws.cloudtrail.error_message", "requestParameters.userName": "user.target.name"}


def sigma_literal(value: str) -> str:
    """A Sigma string that means `value` literally: \\ * ? escaped with a backslash."""
    return re.sub(r"([\\*?])", r"\\\1", value)


def compile_one(backend_class, field: str, value: str) -> str:
    rule = {
        "title": "Hostile",
        "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f00ff",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {field: sigma_literal(value)}, "condition": "sel"},
    }
    (query,) = backend_class(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([rule]))
    return query


def refused_for_a_documented_reason(language: str, error: Exception) -> bool:
    return any(reason in str(error) for reason in REFUSALS[language])


SETTINGS = settings(max_examples=int(__import__("os").environ.get("HOSTILE_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Known edge cases, run on every run as explicit examples (each language's quote, escape, wildcard and operator
#: characters, control characters, case variants).
EDGES = ['"', "\\", "|", "/", "*", "?", "\n", "\r", "\t", ":", "(", ")", "[", "]", "{", "}", "~", "^", "!", "&&", "||",
         "<", ">", "=", "+", "-", "'", "`", " ", "\\*", "*\\", "a*b?", '\\"', "aB", "Éé", "日😀"]


def edge_examples(field: str | None = None):
    """EDGES as explicit hypothesis examples (with `field` when the test takes one)."""

    def apply(test):
        for value in reversed(EDGES):
            test = (example(value=value, field=field) if field else example(value=value))(test)
        return test

    return apply


@SETTINGS
@given(value=HOSTILE, field=st.sampled_from(sorted(FIELDS)))
@example(value='a" OR event.action:*', field="userAgent")
@example(value="x\\", field="userAgent")
@example(value="line\nbreak", field="requestParameters.userName")
@edge_examples(field="userAgent")
def test_lucene_reads_back_the_original_value(value, field):
    try:
        query = compile_one(LuceneBackend, field, value)
    except SigmaError as e:
        assert refused_for_a_documented_reason("lucene", e), str(e)
        return
    assert lucene.compared_values(query) == [(FIELDS[field], value)], query


@SETTINGS
@given(value=HOSTILE, field=st.sampled_from(sorted(EQL_FIELDS)))
@example(value='a" or event.action : "x', field="userAgent")
@example(value="tab\there", field="errorMessage")
@edge_examples(field="userAgent")
def test_eql_reads_back_the_original_value(value, field):
    try:
        query = compile_one(EqlBackend, field, value)
    except SigmaError as e:
        assert refused_for_a_documented_reason("eql", e), str(e)
        return
    parsed = elastic_eql.parse(query)
    assert [(f, v) for _, f, v in elastic_eql.comparisons(parsed)] == [(EQL_FIELDS[field], value)], query


@SETTINGS
@given(value=HOSTILE)
@example(value='a" or event.action=="x')
@example(value="| where true")
@example(value="line\r\nbreak\\")
@edge_examples()
def test_esql_reads_back_the_original_value(value):
    try:
        query = compile_one(ESQLBackend, "userAgent", value)
    except SigmaError as e:
        assert refused_for_a_documented_reason("esql", e), str(e)
        return
    assert esql.compared_values(query) == [("user_agent.original", value)], query


def test_a_wildcard_stays_a_wildcard():
    """The other side of escaping: an unescaped Sigma wildcard is still a wildcard in every language."""
    rule_value = "aws-cli*"
    assert lucene.compared_values(compile_one(LuceneBackend, "userAgent", "x").replace("x", "aws\\-cli*")) == [
        ("user_agent.original", "aws\\-cli.*")
    ]
    query = LuceneBackend(ecs_cloudtrail_pipeline()).convert(
        SigmaCollection.from_dicts(
            [
                {
                    "title": "t",
                    "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f00fe",
                    "logsource": {"product": "aws", "service": "cloudtrail"},
                    "detection": {"sel": {"userAgent": rule_value}, "condition": "sel"},
                }
            ]
        )
    )[0]
    assert lucene.matches(query, {"user_agent": {"original": "aws-cli/2.15"}})
    assert not lucene.matches(query, {"user_agent": {"original": "AWS-CLI/2.15"}})
