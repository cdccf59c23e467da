"""What Elasticsearch refuses by field type, refused per query language by the `ecs_cloudtrail` pipeline
(SigmaFeatureNotSupportedByBackendError: the rule is left out of that language with the reason), pySigma
style: one behaviour per test, the expected query spelled out.

* EQL: sub-fields of `flattened` fields fail verification (elastic/elasticsearch#101985); `:` and `like~`
  are string operators, so non-keyword fields and non-string values are refused.
* ES|QL: flattened fields cannot be read; a keyword is compared with strings only; a string is cast to a
  boolean or date column only when it is one (ES|QL implicit casting).
"""

from __future__ import annotations

import pytest
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline

HEAD = "from logs-aws.cloudtrail-* metadata _id, _index, _version | where "


def convert(backend, selection: dict) -> list[str]:
    rule = {
        "title": "Typed",
        "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f00a1",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": selection, "condition": "sel"},
    }
    return backend(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([rule]))


# ------------------------------------------------------------------------------------------------ EQL
def test_eql_refuses_a_request_parameter():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=r"unsupported type \[flattened\]"):
        convert(EqlBackend, {"requestParameters.policy.status": "Inactive"})  # nested: not in the rendering


def test_eql_refuses_a_boolean_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="EQL's ':' compares strings; aws.cloudtrail.read_only is a boolean field"):
        convert(EqlBackend, {"readOnly": "true"})


def test_eql_refuses_a_date_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="@timestamp is a date field"):
        convert(EqlBackend, {"eventTime": "2025-01-20T15:59:33Z"})


def test_eql_refuses_a_boolean_value_on_a_keyword_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="the SigmaBool value of aws.cloudtrail.management_event"):
        convert(EqlBackend, {"managementEvent": True})


def test_eql_keeps_a_string_on_a_keyword_field():
    assert convert(EqlBackend, {"managementEvent": "true"}) == ['any where aws.cloudtrail.management_event:"true"']


# ---------------------------------------------------------------------------------------------- ES|QL
def test_esql_refuses_a_request_parameter():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="ES\\|QL cannot read flattened fields"):
        convert(ESQLBackend, {"requestParameters.policy.status": "Inactive"})  # nested: not in the rendering


def test_esql_refuses_a_boolean_value_on_a_keyword_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="does not compare the keyword aws.cloudtrail.management_event with a SigmaBool"):
        convert(ESQLBackend, {"managementEvent": True})


def test_esql_refuses_a_number_on_a_keyword_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="with a SigmaNumber"):
        convert(ESQLBackend, {"recipientAccountId": 111122223333})


def test_esql_compares_a_boolean_field_with_a_boolean():
    assert convert(ESQLBackend, {"readOnly": True}) == [HEAD + "aws.cloudtrail.read_only==true"]


def test_esql_casts_the_string_true_to_a_boolean_field():
    assert convert(ESQLBackend, {"readOnly": "true"}) == [HEAD + 'aws.cloudtrail.read_only=="true"']


def test_esql_refuses_a_string_that_is_not_a_boolean_on_a_boolean_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="cannot cast 'yes' to the boolean"):
        convert(ESQLBackend, {"readOnly": "yes"})


def test_esql_casts_an_iso_date_to_a_date_field():
    assert convert(ESQLBackend, {"eventTime": "2025-01-20T15:59:33Z"}) == [HEAD + '`@timestamp`=="2025-01-20T15:59:33Z"']


def test_esql_refuses_a_string_that_is_not_a_date_on_a_date_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="cannot cast 'yesterday' to the date @timestamp"):
        convert(ESQLBackend, {"eventTime": "yesterday"})


def test_esql_refuses_a_number_comparison_on_a_date_field():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="does not compare the date @timestamp with a SigmaCompareExpression"):
        convert(ESQLBackend, {"eventTime|gte": 5})


# --------------------------------------------------------------------------------------------- Lucene
def test_lucene_queries_a_boolean_field():
    assert convert(LuceneBackend, {"readOnly": True}) == ["aws.cloudtrail.read_only:true"]


def test_lucene_queries_a_request_parameter():
    assert convert(LuceneBackend, {"requestParameters.status": "Inactive"}) == ["aws.cloudtrail.flattened.request_parameters.status:Inactive"]
