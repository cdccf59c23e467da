"""SigmaHQ's AWS CloudTrail rules (the shared, read-only corpus of tests/sigmahq_corpus.py) through the EventBridge
backend: how many convert, and the exact refusals with their reasons, grouped in a table by reason, so that a
regression - a new refusal, or a refusal silently turned into a pattern - fails. Every converted pattern loads in
moto's EventBridge (PutRule's parser) and fits EventBridge's limits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sigma.backends.eventbridge import EventBridgeBackend
from sigma.backends.eventbridge.limits import EVENT_PATTERN_MAX_LENGTH
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.pipelines.cloudtrail import eventbridge_cloudtrail_pipeline
from sigmahq_corpus import RULE_FILES, needs_corpus

from .conftest import _loaded

pytestmark = needs_corpus

#: reason -> {rule file: a substring of the error}
REFUSALS = {
    "fields CloudTrail records do not have": {
        "aws_cloudtrail_console_login_success_from_susp_locations.yml": "src_country, src_ip do not exist in CloudTrail records",
        "aws_delete_saml_provider.yml": "status do not exist in CloudTrail records",
    },
    "a match on a whole JSON object (EventBridge matches leaf values)": {
        "aws_disable_bucket_versioning.yml": "requestParameters hold a JSON object or array",
        "aws_iam_s3browser_templated_s3_bucket_policy_creation.yml": "requestParameters hold a JSON object or array",
        "aws_ec2_vm_export_failure.yml": "responseElements hold a JSON object or array",
    },
    "a request parameter that is an array (EventBridge matches any element)": {
        "aws_ecs_task_definition_cred_endpoint_query.yml": "requestParameters.containerDefinitions is an array in ecs.amazonaws.com requests",
        "aws_new_lambda_layer_attached.yml": "requestParameters.layers is an array in lambda.amazonaws.com requests",
    },
    "case-insensitive contains (wildcard is case-sensitive)": {
        "aws_console_getsignintoken.yml": "needs a wildcard match, which EventBridge makes case-sensitively only",
        "aws_iam_backdoor_users_keys.yml": "needs a wildcard match, which EventBridge makes case-sensitively only",
        "aws_iam_s3browser_loginprofile_creation.yml": "needs a wildcard match, which EventBridge makes case-sensitively only",
        "aws_iam_s3browser_user_or_accesskey_creation.yml": "needs a wildcard match, which EventBridge makes case-sensitively only",
        "aws_sts_getcalleridentity_trufflehog.yml": "needs a wildcard match, which EventBridge makes case-sensitively only",
    },
    "regular expressions": {
        "aws_cloudtrail_imds_malicious_usage.yml": "regular expressions (userIdentity.arn|re) have no event pattern matcher",
    },
    "field references": {
        "aws_update_login_profile.yml": "field references (userIdentity.arn|fieldref) cannot be expressed",
    },
}


def convert(path: Path):
    backend = EventBridgeBackend(eventbridge_cloudtrail_pipeline())
    try:
        return backend.convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))), None
    except SigmaError as e:
        return None, str(e)


def test_conversions_and_refusals_by_reason():
    results = {path.name: convert(path) for path in RULE_FILES}
    refused = {name: error for name, (_, error) in results.items() if error}
    expected = {name: why for group in REFUSALS.values() for name, why in group.items()}
    assert sorted(refused) == sorted(expected)
    for name, why in expected.items():
        assert why in refused[name], (name, refused[name])
    converted = len(results) - len(refused)
    table = Counter({reason: len(group) for reason, group in REFUSALS.items()})
    print(f"\nSigmaHQ AWS CloudTrail corpus: {converted} of {len(results)} rules convert to EventBridge event patterns")
    for reason, count in table.most_common():
        print(f"  {count:3d}  {reason}")
    assert converted == len(results) - 14


def test_every_pattern_loads_in_moto_and_fits_the_limits():
    patterns = [text for path in RULE_FILES for text in (convert(path)[0] or [])]
    assert patterns
    for text in patterns:
        _loaded(text)  # moto's EventPatternParser: valid JSON, every value an object or a non-empty array
        assert len(text) <= EVENT_PATTERN_MAX_LENGTH
        assert json.loads(text)["source"]
