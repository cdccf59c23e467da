"""The SigmaHQ AWS CloudTrail rules (a shared, read-only corpus beside the project: tests/sigmahq_corpus.py): how
many convert, and the exact set of refusals with their reasons, so that a regression - a new refusal, or a refusal
silently turned into a query - fails.
"""

from __future__ import annotations

from pathlib import Path

from evaluators import logs_insights as li
from evaluators import metric_filter as mf
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.pipelines.cloudtrail import cloudwatch_cloudtrail_pipeline
from sigmahq_corpus import RULE_FILES, needs_corpus

pytestmark = needs_corpus

#: Rules the Logs Insights query cannot be written for, with the reason (a substring of the error).
QUERY_REFUSALS = {
    # fields that CloudTrail records do not have (the shared pipeline's refusal)
    "aws_cloudtrail_console_login_success_from_susp_locations.yml": "src_country, src_ip do not exist in CloudTrail records",
    "aws_delete_saml_provider.yml": "status do not exist in CloudTrail records",
    # a match on a whole JSON object: Logs Insights only discovers its leaf fields
    "aws_disable_bucket_versioning.yml": "requestParameters hold a JSON object or array",
    "aws_iam_s3browser_templated_s3_bucket_policy_creation.yml": "requestParameters hold a JSON object or array",
    "aws_ec2_vm_export_failure.yml": "responseElements hold a JSON object or array",
    # a request parameter that is a JSON array in the service's API model: Logs Insights flattens it per element
    "aws_ecs_task_definition_cred_endpoint_query.yml": "requestParameters.containerDefinitions is an array in "
    "ecs.amazonaws.com requests; name one element by its index instead, e.g. "
    "requestParameters.containerDefinitions.0.command.0",
    "aws_new_lambda_layer_attached.yml": "requestParameters.layers is an array in lambda.amazonaws.com requests; "
    "name one element by its index instead, e.g. requestParameters.layers.0",
}

#: Why the others have no metric filter pattern (a substring of the error), beyond the query refusals.
METRIC_FILTER_REFUSALS = {
    "case-insensitively": {
        "aws_cloudtrail_bucket_deleted.yml",
        "aws_cloudtrail_console_login_failed_authentication.yml",
        "aws_cloudtrail_console_login_success_without_mfa.yml",
        "aws_cloudtrail_guardduty_detector_deleted_or_updated.yml",
        "aws_cloudtrail_pua_trufflehog.yml",
        "aws_cloudtrail_ssm_malicious_usage.yml",
        "aws_cloudtrail_vpc_flow_logs_deleted.yml",
        "aws_console_getsignintoken.yml",
        "aws_ec2_startup_script_change.yml",
        "aws_enum_buckets.yml",
        "aws_iam_backdoor_users_keys.yml",
        "aws_iam_s3browser_loginprofile_creation.yml",
        "aws_iam_s3browser_user_or_accesskey_creation.yml",
        "aws_rds_public_db_restore.yml",
        "aws_root_account_usage.yml",
        "aws_sts_assumerole_misuse.yml",
        "aws_sts_getcalleridentity_trufflehog.yml",
        "aws_sts_getsessiontoken_misuse.yml",
    },
    "regular expressions": {"aws_cloudtrail_imds_malicious_usage.yml"},
    "field references": {"aws_update_login_profile.yml"},
}


def convert(path: Path, fmt: str):
    backend = CloudWatchLogsInsightsBackend(cloudwatch_cloudtrail_pipeline())
    try:
        return backend.convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8")), fmt), None
    except SigmaError as e:
        return None, str(e)


def outcomes(fmt: str) -> dict[str, tuple]:
    return {path.name: convert(path, fmt) for path in RULE_FILES}


def test_query_conversions_and_refusals():
    results = outcomes("default")
    refused = {name: error for name, (_, error) in results.items() if error}
    assert set(refused) == set(QUERY_REFUSALS), refused
    for name, reason in QUERY_REFUSALS.items():
        assert reason in refused[name], (name, refused[name])
    converted = len(results) - len(refused)
    print(f"\nSigmaHQ AWS CloudTrail corpus: {converted} of {len(results)} rules convert to Logs Insights queries")
    assert (converted, len(results)) == (51, 58)


def test_every_converted_query_is_in_the_evaluated_subset():
    """Each query parses with the strict evaluator and runs on a record (so no syntax outside the subset)."""
    record = {"eventTime": "2026-11-23T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "X"}
    for name, (queries, error) in outcomes("default").items():
        for query in queries or []:
            li.parse(query).run([record])


def test_metric_filter_patterns_and_refusals():
    results = outcomes("metric_filter")
    refused = {name: error for name, (_, error) in results.items() if error}
    expected = set(QUERY_REFUSALS) | set().union(*METRIC_FILTER_REFUSALS.values())
    assert set(refused) == expected, sorted(set(refused) ^ expected)
    for reason, names in METRIC_FILTER_REFUSALS.items():
        for name in names:
            assert reason in refused[name], (name, refused[name])
    for name, (patterns, _) in results.items():
        for pattern in patterns or []:
            mf.parse(pattern)
    assert len(results) - len(refused) == 58 - 7 - 20
