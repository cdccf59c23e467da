"""sigma-cli finds both backends and both pipelines (the plugin in backends/), and refuses a mismatched pair."""

from __future__ import annotations

from pathlib import Path

import pytest

RULE = str(Path(__file__).resolve().parents[2] / "sigma" / "organizations" / "aws_organizations_leave_organization.yml")


@pytest.mark.parametrize(
    "target, pipeline, where",
    [
        ("athena", "athena_cloudtrail", "FROM cloudtrail_organization\nWHERE account IN (${ACCOUNT_IDS})\n  AND region = 'us-east-1'\n"),
        ("cloudtrail_lake", "cloudtrail_lake_cloudtrail", "FROM ${EVENT_DATA_STORE_ID}\n"),
    ],
)
def test_sigma_convert(sigma, target, pipeline, where):
    run = sigma("convert", "-t", target, "-p", pipeline, RULE)
    assert run.exit_code == 0, run.output
    assert where in run.stdout
    assert "  AND (eventsource = 'organizations.amazonaws.com' AND eventname = 'LeaveOrganization')\n" in run.stdout


def test_pipeline_of_the_other_target_is_refused(sigma):
    run = sigma("convert", "-t", "athena", "-p", "cloudtrail_lake_cloudtrail", RULE)
    assert run.exit_code != 0
    assert "not intended to be used with the target athena" in run.output


def test_backend_requires_a_pipeline(sigma):
    run = sigma("convert", "-t", "cloudtrail_lake", RULE)
    assert run.exit_code != 0
