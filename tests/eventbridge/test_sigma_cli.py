"""The eventbridge backend and its pipeline through sigma-cli's real entry point (the `sigma` fixture of
tests/conftest.py): found by plugin discovery, pipeline and target bound to each other, a pipeline required."""

from __future__ import annotations

from cloudtrail_pack.pack import load_pack

RULES_DIR = load_pack().root
LEAVE = RULES_DIR / "organizations" / "aws_organizations_leave_organization.yml"
DELETE_USER = RULES_DIR / "iam" / "aws_iam_user_deleted.yml"  # the base rule, then the mass-deletion correlation


def test_convert_prints_the_event_pattern(sigma):
    result = sigma("convert", "-t", "eventbridge", "-p", "eventbridge_cloudtrail", str(LEAVE))
    assert result.exit_code == 0
    assert result.stdout == (
        '{"source":["aws.organizations"],"detail-type":[{"suffix":" via CloudTrail"}],"detail":'
        '{"eventSource":["organizations.amazonaws.com"],"eventName":["LeaveOrganization"]}}\n'
    )


def test_the_pipeline_is_refused_with_another_target(sigma):
    result = sigma("convert", "-t", "splunk", "-p", "eventbridge_cloudtrail", str(LEAVE))
    assert result.exit_code == 2
    assert "The pipeline 'eventbridge_cloudtrail' is not intended to be used with the target splunk." in result.stderr


def test_another_targets_pipeline_is_refused_with_eventbridge(sigma):
    result = sigma("convert", "-t", "eventbridge", "-p", "cloudwatch_cloudtrail", str(LEAVE))
    assert result.exit_code == 2
    assert "The pipeline 'cloudwatch_cloudtrail' is not intended to be used with the target eventbridge." in result.stderr


def test_no_pipeline_is_refused(sigma):
    result = sigma("convert", "-t", "eventbridge", str(LEAVE))
    assert result.exit_code == 2
    assert "Processing pipeline required by backend!" in result.stderr


def test_eventbridge_lists_only_its_pipeline(sigma):
    listed = sigma("list", "pipelines", "eventbridge").stdout
    assert "eventbridge_cloudtrail" in listed and "cloudwatch_cloudtrail" not in listed


def test_skip_unsupported_skips_the_correlation_and_prints_the_base_rule(sigma):
    result = sigma("convert", "-t", "eventbridge", "-p", "eventbridge_cloudtrail", "-s", str(DELETE_USER))
    assert result.exit_code == 0
    assert result.stdout == (
        '{"source":["aws.iam"],"detail-type":[{"suffix":" via CloudTrail"}],"detail":'
        '{"eventSource":["iam.amazonaws.com"],"eventName":["DeleteUser"]}}\n'
    )
    assert "correlation rules count events over time; EventBridge matches one event at a time" in result.stderr


def test_backend_option_raises_the_pattern_size_limit(sigma):
    result = sigma("convert", "-t", "eventbridge", "-p", "eventbridge_cloudtrail", "-O", "max_pattern_length=4096", str(LEAVE))
    assert result.exit_code == 0 and result.stdout.startswith('{"source":["aws.organizations"]')
