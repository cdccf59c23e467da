"""Sigma's `not` in EQL and ES|QL, whose three-valued logic would drop an event without the negated field:
every comparison of a negated detection is guarded with `is not null` (sigma.pipelines.cloudtrail.negation)."""

from __future__ import annotations

import pytest
from sigma.collection import SigmaCollection

from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import backend_for
from elastic_ingest import to_ecs
from evaluators import esql

import elastic_eql

RULE = """
title: t
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: iam.amazonaws.com, eventName: DeleteUser}
  filter: {userIdentity.invokedBy|endswith: '.amazonaws.com'}
  condition: sel and not filter
"""

RECORD = {
    "eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
    "eventName": "DeleteUser", "eventID": "e1", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "userName": "ops"},
}


def convert(target: str, rule: str = RULE) -> str:
    (query,) = backend_for(TARGETS[target]).convert(SigmaCollection.from_yaml(rule))
    return query


def test_eql_guards_a_negated_comparison():
    assert convert("eql") == (
        'any where (event.provider:"iam.amazonaws.com" and event.action:"DeleteUser") and '
        '(not (?aws.cloudtrail.user_identity.invoked_by != null and aws.cloudtrail.user_identity.invoked_by:"*.amazonaws.com"))'
    )


def test_esql_guards_a_negated_comparison():
    assert convert("esql") == (
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider=="iam.amazonaws.com" and '
        'event.action=="DeleteUser" and not (not aws.cloudtrail.user_identity.invoked_by is null and '
        'ends_with(aws.cloudtrail.user_identity.invoked_by, ".amazonaws.com"))'
    )


def test_lucene_needs_no_guard():
    """Lucene's NOT matches documents without the field, as Sigma's `not` does."""
    assert convert("lucene") == (
        "(event.provider:iam.amazonaws.com AND event.action:DeleteUser) AND "
        "(NOT aws.cloudtrail.user_identity.invoked_by:*.amazonaws.com)"
    )


def test_comparisons_outside_not_are_left_alone():
    assert "!= null" not in convert("eql", RULE.replace("sel and not filter", "sel and filter"))


@pytest.mark.parametrize("target", ["eql", "esql"])
def test_an_event_without_the_negated_field_still_matches(target):
    """The record has no userIdentity.invokedBy: Sigma's `not filter` holds for it."""
    doc = to_ecs(RECORD)
    query = convert(target)
    if target == "eql":
        assert [d["event"]["id"] for seq in elastic_eql.run(query, [doc]) for d in seq] == ["e1"]
    else:
        assert [d["event"]["id"] for d in esql.run(query, [doc]).documents] == ["e1"]


@pytest.mark.parametrize("target", ["eql", "esql"])
def test_without_the_guard_the_event_is_lost(target):
    """What the guard prevents: the unguarded query, as pySigma writes it, drops the record."""
    doc = to_ecs(RECORD)
    unguarded = convert(target).replace("?aws.cloudtrail.user_identity.invoked_by != null and ", "").replace(
        "not aws.cloudtrail.user_identity.invoked_by is null and ", ""
    )
    if target == "eql":
        assert list(elastic_eql.run(unguarded, [doc])) == []
    else:
        assert esql.run(unguarded, [doc]).documents == []
