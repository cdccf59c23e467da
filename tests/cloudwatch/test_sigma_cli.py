"""The cloudwatch backend and its pipeline through sigma-cli's real entry point (the `sigma` fixture of
tests/conftest.py: `sigma.cli.main.main` run in this process, so the network guard applies).

* The `cloudwatch_cloudtrail` pipeline serves the `cloudwatch` target only, and `cloudwatch` takes no other
  CloudTrail pipeline (each declares `allowed_backends`).
* The backend requires a pipeline (`requires_pipeline`, as pySigma's Splunk and Elasticsearch backends do): without
  `-p` sigma-cli stops instead of converting without the CloudTrail field checks; `--without-pipeline` converts
  generically, on purpose.
* `-s` (skip unsupported) skips a refused correlation and still prints the rule it counts.
"""

from __future__ import annotations

from cloudtrail_pack.pack import load_pack

RULES_DIR = load_pack().root
DELETE_USER = RULES_DIR / "iam" / "aws_iam_user_deleted.yml"  # the base rule, then the mass-deletion correlation


def test_the_pipeline_is_refused_with_another_target(sigma):
    result = sigma("convert", "-t", "splunk", "-p", "cloudwatch_cloudtrail", str(DELETE_USER))
    assert result.exit_code == 2
    assert "The pipeline 'cloudwatch_cloudtrail' is not intended to be used with the target splunk." in result.stderr
    assert result.stdout == ""


def test_another_targets_pipeline_is_refused_with_cloudwatch(sigma):
    """Before, `-t cloudwatch -p splunk_cloudtrail` printed Logs Insights queries wrapped in SPL macros."""
    result = sigma("convert", "-t", "cloudwatch", "-p", "splunk_cloudtrail", str(DELETE_USER))
    assert result.exit_code == 2
    assert "The pipeline 'splunk_cloudtrail' is not intended to be used with the target cloudwatch." in result.stderr
    assert result.stdout == ""


def test_cloudwatch_lists_only_its_pipeline(sigma):
    listed = sigma("list", "pipelines", "cloudwatch").stdout
    assert "cloudwatch_cloudtrail" in listed
    assert "splunk_cloudtrail" not in listed and "ecs_cloudtrail" not in listed


def test_no_pipeline_is_refused(sigma):
    """Before, `sigma convert -t cloudwatch rule.yml` converted with no CloudTrail field checks at all."""
    result = sigma("convert", "-t", "cloudwatch", str(DELETE_USER))
    assert result.exit_code == 2
    assert "Processing pipeline required by backend!" in result.stderr
    assert result.stdout == ""


def test_without_pipeline_converts_generically_on_request(sigma):
    """No canonical-case knowledge: eventSource and eventName are matched case-insensitively."""
    result = sigma("convert", "-t", "cloudwatch", "--without-pipeline", str(DELETE_USER))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == [
        "fields @timestamp, eventTime, userIdentity.type, userIdentity.arn, sourceIPAddress, userAgent, "
        "requestParameters.userName, errorCode, errorMessage, recipientAccountId",
        "| filter eventSource like /(?i)\\Aiam\\.amazonaws\\.com\\z/ and eventName like /(?i)\\ADeleteUser\\z/",
        "| sort @timestamp desc",
    ]


def test_skip_unsupported_skips_the_correlation_and_prints_the_base_rule(sigma):
    """Before, the refused correlation stopped the conversion: exit 1, nothing printed."""
    result = sigma("convert", "-t", "cloudwatch", "-p", "cloudwatch_cloudtrail", "-f", "metric_filter", "-s", str(DELETE_USER))
    assert result.exit_code == 0
    assert result.stdout == '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }\n'
    assert "Ignored errors:" in result.stderr
    assert "metric filter pattern: correlation rules count events over time" in result.stderr


def test_without_skip_the_refused_correlation_fails_the_conversion(sigma):
    result = sigma("convert", "-t", "cloudwatch", "-p", "cloudwatch_cloudtrail", "-f", "metric_filter", str(DELETE_USER))
    assert result.exit_code == 1
    assert "Error while converting: metric filter pattern: correlation rules count events over time" in result.stderr
