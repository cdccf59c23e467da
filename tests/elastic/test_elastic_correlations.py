"""Ordered temporal correlations in the `ecs_cloudtrail` pipeline: EQL writes its own ordered form, a two-stage
`sequence by <group> with maxspan=<timespan>`; ES|QL refuses. One behaviour per test, the expected query spelled
out; the sequence is then run by the `eql` package over records as the AWS integration indexes them."""

from __future__ import annotations

import elastic_eql
import pytest
from elastic_ingest import to_ecs
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail.ecs import ecs_cloudtrail_pipeline


def base(name: str, uid: str, event_name: str) -> str:
    return (
        f"title: {name}\nid: {uid}\nname: {name}\nstatus: test\n"
        "logsource:\n    product: aws\n    service: cloudtrail\n"
        f"detection:\n    selection:\n        eventSource: iam.amazonaws.com\n        eventName: {event_name}\n"
        "    condition: selection\nlevel: medium\n---\n"
    )


RULES = (
    base("key_removed", "22222222-0000-4000-8000-000000000001", "DeleteAccessKey")
    + base("password_removed", "22222222-0000-4000-8000-000000000002", "DeleteLoginProfile")
    + base("user_deleted", "22222222-0000-4000-8000-000000000003", "DeleteUser")
)
ORDERED = (
    "    type: temporal_ordered\n    rules:\n        - key_removed\n        - password_removed\n        - user_deleted\n"
    "    group-by:\n        - userIdentity.arn\n        - requestParameters.userName\n    timespan: 10m\n"
    "    condition: (key_removed or password_removed) and user_deleted\n"
)


def correlation(body: str = ORDERED) -> str:
    return RULES + "title: Sequence\nid: 22222222-0000-4000-8000-0000000000ff\nname: sequence\nstatus: test\ncorrelation:\n" + body


def convert(backend_class, body: str = ORDERED) -> str:
    return backend_class(processing_pipeline=ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(correlation(body)))[-1]


def test_eql_ordered_temporal_is_a_two_stage_sequence():
    assert convert(EqlBackend) == (
        "sequence by aws.cloudtrail.user_identity.arn, user.target.name with maxspan=10m\n"
        ' [any where (event.provider:"iam.amazonaws.com" and event.action:"DeleteAccessKey") or '
        '(event.provider:"iam.amazonaws.com" and event.action:"DeleteLoginProfile")]\n'
        ' [any where event.provider:"iam.amazonaws.com" and event.action:"DeleteUser"]'
    )


def test_eql_sequence_of_two_rules_without_extended_condition():
    body = (
        "    type: temporal_ordered\n    rules:\n        - key_removed\n        - user_deleted\n"
        "    group-by:\n        - userIdentity.arn\n    timespan: 90s\n"
    )
    assert convert(EqlBackend, body) == (
        "sequence by aws.cloudtrail.user_identity.arn with maxspan=90s\n"
        ' [any where event.provider:"iam.amazonaws.com" and event.action:"DeleteAccessKey"]\n'
        ' [any where event.provider:"iam.amazonaws.com" and event.action:"DeleteUser"]'
    )


def test_eql_refuses_three_steps():
    body = ORDERED.replace("(key_removed or password_removed) and user_deleted", "key_removed and password_removed and user_deleted")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="two steps"):
        convert(EqlBackend, body)


def test_eql_refuses_a_join_on_a_flattened_field():
    body = ORDERED.replace("requestParameters.userName", "requestParameters.accessKeyId")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="join on keyword fields"):
        convert(EqlBackend, body)


def test_esql_refuses_ordered_temporal():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="ES\\|QL has no ordered sequence"):
        convert(ESQLBackend)


# --- what the sequence finds ----------------------------------------------------------------------------


def record(event_id: str, time: str, name: str, user: str, arn: str = "arn:aws:iam::111122223333:user/admin") -> dict:
    return {
        "eventVersion": "1.10", "eventID": event_id, "eventTime": f"2026-02-17T11:{time}Z",
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1", "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333", "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": arn},
        "requestParameters": {"userName": user},
    }


def sequences(records: list[dict]) -> list[list[str]]:
    docs = [to_ecs(r) for r in records]
    return [[d["event"]["id"] for d in found] for found in elastic_eql.run(convert(EqlBackend), docs)]


def test_sequence_finds_the_deletion_after_a_credential_removal():
    records = [record("key", "00:31", "DeleteAccessKey", "nora"), record("del", "01:05", "DeleteUser", "nora")]
    assert sequences(records) == [["key", "del"]]


def test_sequence_ignores_the_reversed_order():
    records = [record("del", "10:00", "DeleteUser", "oscar"), record("key", "10:30", "DeleteAccessKey", "oscar")]
    assert sequences(records) == []


def test_sequence_ignores_another_principal_and_a_step_outside_the_window():
    records = [
        record("key-1", "30:00", "DeleteAccessKey", "pia", arn="arn:aws:iam::111122223333:user/other"),
        record("del-1", "31:00", "DeleteUser", "pia"),
        record("key-2", "40:00", "DeleteAccessKey", "quinn"), record("del-2", "50:01", "DeleteUser", "quinn"),
    ]
    assert sequences(records) == []


# --- the Kibana rule's guide ------------------------------------------------------------------------------


def test_kibana_guide_says_what_an_ordered_sequence_alert_is():
    from pathlib import PurePosixPath

    from cloudtrail_pack.artifacts.elastic import _what_fires
    from cloudtrail_pack.pack import PackRule

    sequence = SigmaCollection.from_yaml(correlation()).rules[-1]
    assert _what_fires(PackRule(sequence, PurePosixPath("sigma/sequence.yml"), 0), "eql") == (
        "The alert is the sequence of two events with the same `aws.cloudtrail.user_identity.arn`, `user.target.name` "
        "within 10m (event time): key_removed or password_removed, then user_deleted; its building-block alerts are "
        "the events. Further sequences of the same group are suppressed into this alert "
        "(`kibana.alert.suppression.docs_count`)."
    )
