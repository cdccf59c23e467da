"""SigmaHQ's AWS CloudTrail rules (the shared corpus, tests/sigmahq_corpus.py) on both SQL targets: 51 of 58
convert, and exactly these 7 are refused, each with its reason."""

from __future__ import annotations

import pytest
from sigma.backends.athena import AthenaBackend, CloudTrailLakeBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.pipelines.cloudtrail import (
    athena_cloudtrail_pipeline,
    cloudtrail_lake_cloudtrail_pipeline,
)
from sigmahq_corpus import RULE_FILES, needs_corpus

pytestmark = needs_corpus

REFUSALS = {
    "aws_cloudtrail_console_login_success_from_susp_locations.yml": "src_country, src_ip do not exist in CloudTrail records",
    "aws_delete_saml_provider.yml": "status do not exist in CloudTrail records",
    "aws_disable_bucket_versioning.yml": "requestParameters holds a JSON object or array",
    "aws_ec2_vm_export_failure.yml": "responseElements holds a JSON object or array",
    "aws_iam_s3browser_templated_s3_bucket_policy_creation.yml": "requestParameters holds a JSON object or array",
    "aws_ecs_task_definition_cred_endpoint_query.yml": "requestParameters.containerDefinitions is an array in ecs.amazonaws.com requests",
    "aws_new_lambda_layer_attached.yml": "requestParameters.layers is an array in lambda.amazonaws.com requests",
}


@pytest.mark.parametrize(
    "backend, pipeline", [(AthenaBackend, athena_cloudtrail_pipeline), (CloudTrailLakeBackend, cloudtrail_lake_cloudtrail_pipeline)]
)
def test_corpus_converts_except_the_listed_refusals(backend, pipeline):
    refused = {}
    for path in RULE_FILES:
        try:
            backend(pipeline()).convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8")))
        except SigmaError as e:
            refused[path.name] = str(e.args[0])
    assert sorted(refused) == sorted(REFUSALS)
    for name, reason in REFUSALS.items():
        assert reason in refused[name], (name, refused[name])
    assert len(RULE_FILES) - len(refused) == 51
