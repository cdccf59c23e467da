"""Field references through the `ecs_cloudtrail` pipeline: requestParameters.userName compared with
userIdentity.userName, as the credential rules exclude self-service. Queries spelled out, pySigma style; then
what they mean, run over records converted as the AWS integration indexes them (tests/elastic_ingest.py)."""

from __future__ import annotations

import pytest
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError

from elastic_ingest import to_ecs
from evaluators import esql as esql_evaluator
from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline

import elastic_eql

SELF_SERVICE = """
    selection:
        eventSource: iam.amazonaws.com
        eventName: DeactivateMFADevice
    filter_named:
        userIdentity.type: IAMUser
        requestParameters.userName|fieldref: userIdentity.userName
    filter_implicit:
        userIdentity.type: IAMUser
        requestParameters.userName: null
    condition: selection and not 1 of filter_*
"""


def rule(detection: str) -> SigmaCollection:
    return SigmaCollection.from_yaml(
        "title: Test\nid: 5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f0002\nstatus: test\n"
        "logsource:\n    product: aws\n    service: cloudtrail\n"
        f"detection:{detection}"
    )


def convert(backend_class, detection: str = SELF_SERVICE) -> str:
    (query,) = backend_class(ecs_cloudtrail_pipeline()).convert(rule(detection))
    return query


# ------------------------------------------------------------------------------------------- queries
def test_lucene_refuses_a_field_reference():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="compares a field with constants only"):
        convert(LuceneBackend)


def test_eql_writes_a_case_insensitive_mutual_prefix_guarded_against_missing_fields():
    assert convert(EqlBackend) == (
        'any where (event.provider:"iam.amazonaws.com" and event.action:"DeactivateMFADevice") and (not '
        '(((?aws.cloudtrail.user_identity.type != null and aws.cloudtrail.user_identity.type:"IAMUser") and '
        "(?user.target.name != null and ?user.name != null and (user.target.name != null and user.name != null and "
        "startsWith~(user.target.name, user.name) and startsWith~(user.name, user.target.name)))) or "
        '((?aws.cloudtrail.user_identity.type != null and aws.cloudtrail.user_identity.type:"IAMUser") and '
        "(?user.target.name == null))))"
    )


def test_esql_compares_both_columns_lower_cased_guarded_against_missing_fields():
    assert convert(ESQLBackend) == (
        "from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider==\"iam.amazonaws.com\" and "
        'event.action=="DeactivateMFADevice" and not (not aws.cloudtrail.user_identity.type is null and '
        'aws.cloudtrail.user_identity.type=="IAMUser" and not user.target.name is null and not user.name is null and '
        "(user.target.name is not null and user.name is not null and to_lower(user.target.name) == to_lower(user.name)) "
        'or not aws.cloudtrail.user_identity.type is null and aws.cloudtrail.user_identity.type=="IAMUser" and '
        "user.target.name is null)"
    )


def test_user_name_without_an_iam_user_pin_in_its_detection_is_refused():
    """user.name holds the role or federating user's name for AssumedRole and FederatedUser identities."""
    detection = SELF_SERVICE.replace("    filter_named:\n        userIdentity.type: IAMUser\n", "    filter_named:\n")
    with pytest.raises(SigmaTransformationError, match="exact where the same detection map has userIdentity.type: IAMUser"):
        convert(EqlBackend, detection)


def test_a_pin_in_another_detection_does_not_count():
    detection = """
    selection:
        eventName: DeactivateMFADevice
        userIdentity.type: IAMUser
    filter:
        requestParameters.userName|fieldref: userIdentity.userName
    condition: selection and not filter
"""
    with pytest.raises(SigmaTransformationError, match="user.name also holds"):
        convert(ESQLBackend, detection)


def test_a_pin_with_a_wildcard_does_not_count():
    detection = SELF_SERVICE.replace("userIdentity.type: IAMUser\n        requestParameters.userName|fieldref", "userIdentity.type: IAM*\n        requestParameters.userName|fieldref")
    with pytest.raises(SigmaTransformationError, match="user.name also holds"):
        convert(EqlBackend, detection)


def test_field_reference_with_endswith_is_refused():
    detection = SELF_SERVICE.replace("requestParameters.userName|fieldref:", "requestParameters.userName|fieldref|endswith:")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="startswith/endswith/contains"):
        convert(EqlBackend, detection)


def test_field_reference_to_a_flattened_field_is_refused():
    detection = """
    selection:
        eventName: CreateUser
        requestParameters.userName|fieldref: requestParameters.path
    condition: selection
"""
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="flattened field; only keywords are compared"):
        convert(ESQLBackend, detection)


# ------------------------------------------------------------------------------------------- meaning
def record(identity: dict, user_name: str | None) -> dict:
    parameters = {"serialNumber": "arn:aws:iam::111122223333:mfa/device"}
    if user_name is not None:
        parameters["userName"] = user_name
    return {
        "eventVersion": "1.09",
        "eventTime": "2024-10-15T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "DeactivateMFADevice",
        "awsRegion": "us-east-1",
        "eventID": "00000000-0000-4000-8000-000000000001",
        "userIdentity": identity,
        "requestParameters": parameters,
    }


IAM_USER_BOB = {"type": "IAMUser", "principalId": "AIDAEXAMPLEBOB", "arn": "arn:aws:iam::111122223333:user/bob", "userName": "bob"}
ROLE_BOB = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:session",
    "arn": "arn:aws:sts::111122223333:assumed-role/bob/session",
    "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/bob", "userName": "bob"}},
}
FEDERATED_BOB = {
    "type": "FederatedUser",
    "principalId": "111122223333:fed",
    "arn": "arn:aws:sts::111122223333:federated-user/fed",
    "sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob", "userName": "bob"}},
}

CASES = [
    ("IAM user on itself", IAM_USER_BOB, "bob", False),
    ("IAM user on itself, name in another case", IAM_USER_BOB, "BOB", False),
    ("IAM user, no userName: its own device", IAM_USER_BOB, None, False),
    ("IAM user on a user whose name starts with its own", IAM_USER_BOB, "bobby", True),
    ("role named like the target (user.name is the role's name)", ROLE_BOB, "bob", True),
    ("federated session of the target (user.name is the federating user)", FEDERATED_BOB, "bob", True),
]


@pytest.mark.parametrize("what, identity, user_name, alerts", CASES, ids=[c[0] for c in CASES])
def test_eql_query_alerts_on_other_users_only(what, identity, user_name, alerts):
    doc = to_ecs(record(identity, user_name))
    assert bool(elastic_eql.run(convert(EqlBackend), [doc])) is alerts


@pytest.mark.parametrize("what, identity, user_name, alerts", CASES, ids=[c[0] for c in CASES])
def test_esql_query_alerts_on_other_users_only(what, identity, user_name, alerts):
    doc = to_ecs(record(identity, user_name))
    assert bool(esql_evaluator.run(convert(ESQLBackend), [doc]).documents) is alerts


def test_a_target_user_named_none_reads_as_no_user_name():
    """The documented limit: the integration deletes 'none' (and '-', '') wherever it occurs, so an IAM user acting
    on a user named none looks like one acting on itself; the reference engine alerts."""
    doc = to_ecs(record(IAM_USER_BOB, "none"))
    assert "target" not in doc.get("user", {})
    assert elastic_eql.run(convert(EqlBackend), [doc]) == []
