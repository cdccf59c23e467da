"""The `splunk_cloudtrail` pipeline through sigma-cli's real entry point (the `sigma` fixture of
tests/conftest.py: `sigma.cli.main.main` run in this process, so the network guard applies): it serves the
splunk target only, and with it sigma-cli writes the searches the app ships."""

from __future__ import annotations

from cloudtrail_pack.artifacts import splunk as writer
from cloudtrail_pack.pack import load_pack

PACK = load_pack()
RULES_DIR = PACK.root
LEAVE_ORGANIZATION = RULES_DIR / "organizations" / "aws_organizations_leave_organization.yml"
ACCESS_KEY = RULES_DIR / "iam" / "aws_iam_user_access_key_removed.yml"
ACCESS_KEY_ID = next(r.id for r in PACK.rules if r.slug == "aws_iam_user_access_key_removed")


def test_sigma_cli_refuses_the_pipeline_with_the_cloudwatch_target(sigma):
    """Without allowed_backends, sigma-cli printed SPL macros inside a Logs Insights query."""
    result = sigma("convert", "-t", "cloudwatch", "-p", "splunk_cloudtrail", str(LEAVE_ORGANIZATION))
    assert result.exit_code == 2
    assert "The pipeline 'splunk_cloudtrail' is not intended to be used with the target cloudwatch." in result.output
    assert "`cloudtrail" not in result.output


def test_sigma_cli_lists_the_pipeline_for_splunk_only(sigma):
    assert "splunk_cloudtrail" in sigma("list", "pipelines", "splunk").output
    assert "splunk_cloudtrail" not in sigma("list", "pipelines", "cloudwatch").output


def test_sigma_cli_writes_the_shipped_search(sigma, savedsearches):
    result = sigma("convert", "-t", "splunk", "-p", "splunk_cloudtrail", str(ACCESS_KEY))
    assert result.exit_code == 0, result.output
    shipped = savedsearches["CloudTrail - AWS IAM User Access Key Deleted or Deactivated - Rule"]["search"]
    converted = result.output[result.output.index("`cloudtrail_detection_pack_cloudtrail`"):].rstrip("\n")
    # the app adds the principal ES scores and the outcome, nothing else
    assert writer.with_outcome(converted, PACK.by_id(ACCESS_KEY_ID)) == shipped
    assert shipped.startswith(
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND (eventName="DeleteAccessKey" '
        'OR (eventName="UpdateAccessKey" AND requestParameters.status="Inactive")))\n| where NOT ((('
    )
