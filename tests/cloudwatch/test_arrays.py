"""Request parameters that are JSON arrays (sigma.pipelines.cloudtrail.arrays): refused with the element path to
write instead, because both CloudWatch languages would silently match nothing on them; the excerpt of AWS's API
models they come from is what botocore's models say."""

from __future__ import annotations

import json
from importlib import resources

import botocore
import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaTransformationError
from sigma.pipelines.cloudtrail import arrays

from evaluators import logs_insights as li
from evaluators import metric_filter as mf

from .conftest import query

LAMBDA_LAYERS = """
sel:
    eventSource: lambda.amazonaws.com
    eventName|startswith: UpdateFunctionConfiguration
    requestParameters.layers|contains: ':layer:'
condition: sel
"""

# an UpdateFunctionConfiguration record as CloudTrail writes it: `layers` is the request's list of layer ARNs
LAYER_RECORD = {
    "eventTime": "2026-11-23T10:00:00Z",
    "eventSource": "lambda.amazonaws.com",
    "eventName": "UpdateFunctionConfiguration20150331v2",
    "requestParameters": {
        "functionName": "payments",
        "layers": ["arn:aws:lambda:us-east-1:111122223333:layer:implant:1"],
    },
}


# --- why: on an array, both languages match nothing --------------------------------------------------------------


def test_logs_insights_sees_array_elements_only_by_index():
    assert not li.matches('fields @timestamp | filter requestParameters.layers like ":layer:"', LAYER_RECORD)
    assert li.matches('fields @timestamp | filter requestParameters.layers.0 like ":layer:"', LAYER_RECORD)


def test_a_filter_pattern_selector_on_an_array_is_not_applied():
    assert not mf.matches('{ $.requestParameters.layers = "*:layer:*" }', LAYER_RECORD)
    assert mf.matches('{ $.requestParameters.layers[0] = "*:layer:*" }', LAYER_RECORD)


# --- refusals ----------------------------------------------------------------------------------------------------


def test_an_array_field_is_refused_with_the_element_path(convert):
    with pytest.raises(SigmaTransformationError) as error:
        convert(LAMBDA_LAYERS)
    assert str(error.value.args[0]) == (
        "cloudwatch_cloudtrail: requestParameters.layers: requestParameters.layers is an array in "
        "lambda.amazonaws.com requests; name one element by its index instead, e.g. requestParameters.layers.0 "
        "(that element only). Logs Insights flattens arrays into one field per element (requestParameters.x.0.y) "
        "and a metric filter does not apply a selector that points at an array or object, so the rule would match "
        "nothing"
    )


def test_the_metric_filter_format_is_refused_too(convert):
    with pytest.raises(SigmaTransformationError, match="requestParameters.layers is an array"):
        convert(LAMBDA_LAYERS, "metric_filter")


def test_a_path_through_an_array_is_refused_with_every_array_indexed(convert):
    with pytest.raises(
        SigmaTransformationError,
        match=r"requestParameters\.containerDefinitions is an array in ecs\.amazonaws\.com requests; name one "
        r"element by its index instead, e\.g\. requestParameters\.containerDefinitions\.0\.command\.0 ",
    ):
        convert(
            """
            sel:
                eventSource: ecs.amazonaws.com
                requestParameters.containerDefinitions.command|contains: CREDENTIALS
            condition: sel
            """
        )


def test_an_object_element_is_refused(convert):
    with pytest.raises(
        SigmaTransformationError,
        match=r"requestParameters\.containerDefinitions\.0 is an object \(an array element\) in ecs\.amazonaws\.com "
        r"requests; name one of its fields",
    ):
        convert("sel:\n    eventSource: ecs.amazonaws.com\n    requestParameters.containerDefinitions.0: x\ncondition: sel")


def test_a_rule_naming_no_event_source_is_checked_against_every_covered_service(convert):
    with pytest.raises(SigmaTransformationError, match="requestParameters.tags is an array in ecs.amazonaws.com"):
        convert("sel:\n    requestParameters.tags.key: owner\ncondition: sel")


def test_a_correlation_grouped_by_an_array_is_refused(backend):
    rules = """
title: Layer
name: layer
id: 5f1b4d62-0000-4000-8000-000000000002
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventSource: lambda.amazonaws.com
    condition: sel
---
title: Many functions per layer
id: 5f1b4d62-0000-4000-8000-000000000003
status: test
correlation:
    type: event_count
    rules:
        - layer
    group-by:
        - requestParameters.layers
    timespan: 10m
    condition:
        gte: 3
"""
    with pytest.raises(SigmaTransformationError, match="requestParameters.layers is an array in lambda.amazonaws.com"):
        backend.convert(SigmaCollection.from_yaml(rules))


# --- what still converts -------------------------------------------------------------------------------------------


def test_an_element_path_converts_in_both_formats(convert):
    detection = "sel:\n    eventSource: lambda.amazonaws.com\n    requestParameters.layers.0|contains|cased: ':layer:'\ncondition: sel"
    (logs_insights,) = convert(detection)
    assert logs_insights == query('eventSource = "lambda.amazonaws.com" and requestParameters.layers.0 like ":layer:"')
    assert li.matches(logs_insights, LAYER_RECORD)
    (pattern,) = convert(detection, "metric_filter")
    assert pattern == '{ ($.eventSource = "lambda.amazonaws.com") && ($.requestParameters.layers[0] = "*:layer:*") }'
    assert mf.matches(pattern, LAYER_RECORD)


def test_a_member_that_is_no_array_in_the_named_service_converts(convert):
    """IAM's requests have no `layers`: the field is only an array where the rule does not look."""
    (out,) = convert("sel:\n    eventSource: iam.amazonaws.com\n    requestParameters.layers: x\ncondition: sel")
    assert out == query('eventSource = "iam.amazonaws.com" and requestParameters.layers like /(?i)\\Ax\\z/')


def test_scalars_and_uncovered_services_convert(convert):
    assert convert("sel:\n    eventSource: lambda.amazonaws.com\n    requestParameters.functionName|cased: pay\ncondition: sel") == [
        query('eventSource = "lambda.amazonaws.com" and requestParameters.functionName = "pay"')
    ]
    assert convert("sel:\n    eventSource: ec2.amazonaws.com\n    requestParameters.attribute|cased: userData\ncondition: sel") == [
        query('eventSource = "ec2.amazonaws.com" and requestParameters.attribute = "userData"')
    ]


# --- the excerpt -----------------------------------------------------------------------------------------------


def packaged_text() -> str:
    return resources.files("sigma.pipelines.cloudtrail").joinpath(arrays.REQUEST_ARRAYS_FILE).read_text(encoding="utf-8")


def test_excerpt_names_its_source_and_licence():
    source = json.loads(packaged_text())["source"]
    assert (source["package"], source["licence"]) == ("botocore", "Apache-2.0")
    assert set(source["models"]) == set(arrays.SERVICES)
    assert source["models"]["lambda.amazonaws.com"] == "botocore/data/lambda/2015-03-31/service-2.json"


def test_excerpt_is_what_the_installed_botocore_models_say():
    """Regenerated from botocore's service models, the excerpt is byte for byte the packaged one."""
    recorded = json.loads(packaged_text())["source"]["version"]
    regenerate = (
        f"excerpt generated from botocore {recorded}, installed {botocore.__version__} (pyproject.toml pins the "
        "test extra's botocore to the excerpt's): regenerate with `python -m sigma.pipelines.cloudtrail.arrays`, "
        "review the difference, and pin the botocore it names"
    )
    assert botocore.__version__ == recorded, regenerate
    assert arrays.dump(arrays.generate()) == packaged_text(), regenerate


def test_excerpt_reads_lists_from_the_models():
    """Spot checks against the API references: Lambda UpdateFunctionConfiguration `Layers` (list of ARNs), ECS
    RegisterTaskDefinition `containerDefinitions[].command` (list of strings), IAM CreateUser `Tags` (list of Tag)."""
    trees = arrays.excerpt()["arrays"]
    assert trees["lambda.amazonaws.com"]["layers"] == {"[]": None}
    assert trees["ecs.amazonaws.com"]["containerDefinitions"]["[]"]["command"] == {"[]": None}
    assert trees["iam.amazonaws.com"]["tags"] == {"[]": {}}
    assert "userName" not in trees["iam.amazonaws.com"]


def test_an_event_source_excluded_under_not_does_not_narrow_the_check(convert):
    """`not eventSource: lambda...` is about every other service, so the field is checked against all of them."""
    with pytest.raises(SigmaTransformationError, match="requestParameters.tags is an array in ecs.amazonaws.com"):
        convert(
            """
            sel:
                requestParameters.tags.key|cased: owner
            lambda:
                eventSource: lambda.amazonaws.com
            condition: sel and not lambda
            """
        )
