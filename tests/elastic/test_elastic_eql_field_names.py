"""EQL field names: a part that is not a plain identifier is backquoted as Elasticsearch's EQL grammar
requires (EqlBase.g4: `IDENTIFIER: (LETTER | '_' | '@') (LETTER | DIGIT | '_')*`, `ESCAPED_IDENTIFIER`), so
that no rule compiles to EQL that does not parse; checked with the `eql` package's parser."""

from __future__ import annotations

import pytest
from sigma.backends.elasticsearch import EqlBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline

import elastic_eql


def compile_eql(field: str, value: str) -> str:
    rule = {
        "title": "Names",
        "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f00a2",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {field: value}, "condition": "sel"},
    }
    (query,) = EqlBackend(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([rule]))
    return query


@pytest.mark.parametrize("field", ["requestParameters.x-amz-acl", "requestParameters.a$b", "requestParameters.x@y", "additionalEventData.x-amz-id-2"])
def test_a_field_with_dash_dollar_or_at_is_refused_or_parses(field):
    """A request parameter is a flattened key, which EQL refuses: it is matched in the keyword rendering
    (elastic_rendered.py), with the key inside the regular expression; it must never become EQL that does not parse."""
    try:
        query = compile_eql(field, "private")
    except SigmaFeatureNotSupportedByBackendError as e:
        assert "flattened" in str(e)
        return
    parsed = elastic_eql.parse(query)
    assert [(op, f) for op, f, _ in elastic_eql.comparisons(parsed)] == [("match", "aws.cloudtrail.request_parameters")]


def eql_field(name: str) -> str:
    from sigma.pipelines.cloudtrail.ecs import eql_field as escape

    return escape(name)


@pytest.mark.parametrize(
    "name, written",
    [
        ("aws.cloudtrail.user_identity.arn", "aws.cloudtrail.user_identity.arn"),
        ("a.x-amz-acl", "a.`x-amz-acl`"),
        ("a.b$c", "a.`b$c`"),
        ("@timestamp", "`@timestamp`"),
        ("a.in.b", "a.`in`.b"),
        ("a.6b", "a.`6b`"),
    ],
)
def test_field_parts_are_backquoted_where_eql_requires(name, written):
    assert eql_field(name) == written


@pytest.mark.parametrize("name", ["a.x-amz-acl", "a.b$c", "@timestamp", "a.in.b", "a.6b"])
def test_a_backquoted_field_parses_back_to_its_path(name):
    parsed = elastic_eql.parse(f'any where {eql_field(name)} : "v"')
    assert elastic_eql.comparisons(parsed) == [("wildcard", name, "v")]


@pytest.mark.parametrize("name", ["a.x`y", "a.x\ny"])
def test_a_field_part_with_a_backquote_or_line_break_is_refused(name):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="cannot be written in EQL"):
        eql_field(name)
