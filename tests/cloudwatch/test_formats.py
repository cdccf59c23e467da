"""Output formats (default, query_definition, metric_filter), AWS's documented limits, backend options and the
sigma-cli entry point."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend, limits
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaConfigurationError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import cloudwatch_cloudtrail_pipeline

from .conftest import rule_yaml

REPO = Path(__file__).resolve().parents[2]

DELETE_USER = """
sel:
    eventSource: iam.amazonaws.com
    eventName: DeleteUser
condition: sel
"""


def test_formats_are_declared():
    assert set(CloudWatchLogsInsightsBackend.formats) == {"default", "query_definition", "metric_filter"}


def test_default_format(convert):
    assert convert(DELETE_USER, fields=["userIdentity.arn", "requestParameters.userName"]) == [
        "fields @timestamp, userIdentity.arn, requestParameters.userName\n"
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        "| sort @timestamp desc"
    ]


def test_query_definition_format(convert):
    assert convert(DELETE_USER, "query_definition", title="AWS IAM User Deleted") == [
        {
            "name": "AWS IAM User Deleted",
            "queryString": 'fields @timestamp, @message\n| filter eventSource = "iam.amazonaws.com" and '
            'eventName = "DeleteUser"\n| sort @timestamp desc',
            "logGroupNames": [],
            "queryLanguage": "CWLI",
        }
    ]


def test_query_definition_is_a_put_query_definition_request(convert):
    """The dict validates against PutQueryDefinition's input shape in botocore's CloudWatch Logs model."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("logs")
    shape = model.operation_model("PutQueryDefinition").input_shape
    (request,) = convert(DELETE_USER, "query_definition")
    request["logGroupNames"] = ["aws-cloudtrail-logs-111122223333"]
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def test_query_definition_options():
    backend = CloudWatchLogsInsightsBackend(
        cloudwatch_cloudtrail_pipeline(),
        query_definition_prefix="CloudTrail/",
        log_group_names="aws-cloudtrail-logs-1, org/trail",
    )
    (definition,) = backend.convert(SigmaCollection.from_yaml(rule_yaml(DELETE_USER, title="Deleted")), "query_definition")
    assert definition["name"] == "CloudTrail/Deleted"
    assert definition["logGroupNames"] == ["aws-cloudtrail-logs-1", "org/trail"]


def test_invalid_log_group_name_is_refused():
    with pytest.raises(SigmaConfigurationError, match="log group name"):
        CloudWatchLogsInsightsBackend(log_group_names="bad name!")


def test_query_definition_name_limit(convert):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="at most 255"):
        convert(DELETE_USER, "query_definition", title="x" * 256)


def test_metric_filter_format(convert):
    assert convert(DELETE_USER, "metric_filter") == [
        '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }'
    ]


def test_query_string_limit(convert_bare):
    values = "\n".join(f"        - value{i:05d}" for i in range(1000))
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="at most 10000"):
        convert_bare(f"sel:\n    fieldA:\n{values}\ncondition: sel")


def test_limits_match_the_aws_api_model():
    """The constants are those of botocore's CloudWatch Logs service model (logs-2014-03-28)."""
    import botocore

    path = Path(botocore.__file__).parent / "data" / "logs" / "2014-03-28" / "service-2.json.gz"
    shapes = json.loads(gzip.decompress(path.read_bytes()))["shapes"]
    assert shapes["QueryString"]["max"] == limits.QUERY_STRING_MAX_LENGTH
    assert shapes["QueryDefinitionString"]["max"] == limits.QUERY_STRING_MAX_LENGTH
    assert shapes["QueryDefinitionName"]["max"] == limits.QUERY_DEFINITION_NAME_MAX_LENGTH
    assert shapes["FilterPattern"]["max"] == limits.FILTER_PATTERN_MAX_LENGTH
    assert shapes["LogGroupName"]["max"] == limits.LOG_GROUP_NAME_MAX_LENGTH
    assert shapes["LogGroupName"]["pattern"] == limits.LOG_GROUP_NAME_PATTERN.pattern


def test_sigma_cli_converts_a_pack_rule():
    sigma = Path(sys.executable).parent / "sigma"
    rule = REPO / "sigma" / "iam" / "aws_iam_user_mfa_deactivated.yml"
    out = subprocess.run(
        [str(sigma), "convert", "-t", "cloudwatch", "-p", "cloudwatch_cloudtrail", str(rule)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.strip() == (
        "fields @timestamp, eventTime, userIdentity.type, userIdentity.arn, userIdentity.userName, sourceIPAddress, "
        "userAgent, requestParameters.userName, requestParameters.serialNumber, errorCode, errorMessage, "
        "recipientAccountId\n"
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeactivateMFADevice" and not '
        "(((ispresent(userIdentity.type) and userIdentity.type like /(?i)\\AIAMUser\\z/) and "
        "(ispresent(requestParameters.userName) and ispresent(userIdentity.userName) and "
        "tolower(requestParameters.userName) = tolower(userIdentity.userName))) or "
        "((ispresent(userIdentity.type) and userIdentity.type like /(?i)\\AIAMUser\\z/) and "
        "not ispresent(requestParameters.userName)))\n"
        "| sort @timestamp desc"
    )
