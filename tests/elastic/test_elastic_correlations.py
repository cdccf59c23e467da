"""Correlations the `ecs_cloudtrail` pipeline finishes (elastic_correlations.py). Ordered temporal ones: EQL writes
its own ordered form, a two-stage `sequence by <group> with maxspan=<timespan>`; ES|QL refuses. ES|QL thresholds:
the backend's fixed time buckets give way to a bound on the counted events' own span, for every correlation type it
writes, without touching a rule's values. One behaviour per test, the expected query spelled out; the sequence is
then run by the `eql` package over records as the AWS integration indexes them."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import elastic_eql
import pytest
from elastic_ingest import to_ecs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail.ecs import ecs_cloudtrail_pipeline
from sigma.pipelines.cloudtrail.elastic_correlations import BackendLayoutChanged, esql_window

from evaluators import esql
from test_elastic_hostile_values import HOSTILE, sigma_literal


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


def test_esql_ordered_temporal_pairs_the_two_steps_times():
    key = 'event.provider=="iam.amazonaws.com" and event.action=="DeleteAccessKey"'
    password = 'event.provider=="iam.amazonaws.com" and event.action=="DeleteLoginProfile"'
    first, second = f"({key}) or ({password})", '(event.provider=="iam.amazonaws.com" and event.action=="DeleteUser")'
    group = "aws.cloudtrail.user_identity.arn, user.target.name"
    assert convert(ESQLBackend).split("\n") == [
        "from logs-aws.cloudtrail-* metadata _id, _index, _version",
        f"| where ({first}) or ({second})",
        f"| eval step1_time=case({first}, `@timestamp`), step2_time=case({second}, `@timestamp`)",
        f"| stats step1_time=values(step1_time), step2_time=values(step2_time) by {group}",
        "| mv_expand step1_time",
        "| mv_expand step2_time",
        '| where step1_time <= step2_time and date_diff("second", step1_time, step2_time) <= 600',
        f"| stats first_seen=min(step1_time), last_seen=max(step2_time) by {group}",
    ]


def _step_doc(action: str, second: int, user: str = "bob") -> dict:
    when = datetime(2026, 2, 17, 11, 0, tzinfo=timezone.utc) + timedelta(seconds=second)
    return {
        "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "event": {"provider": "iam.amazonaws.com", "action": action, "id": f"{action}-{second}-{user}"},
        "aws": {"cloudtrail": {"user_identity": {"arn": "arn:aws:iam::111122223333:user/admin"}}},
        "user": {"target": {"name": user}},
    }


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    firsts=st.lists(st.integers(0, 1800), max_size=4),
    seconds=st.lists(st.integers(0, 1800), max_size=3),
)
@example(firsts=[0, 480], seconds=[720])  # per-group min/max (0, 720) would say 12 minutes apart: the pair (480, 720) is 4
@example(firsts=[0], seconds=[0])  # the same second: in order (issue 20)
@example(firsts=[0], seconds=[600])  # exactly the timespan
@example(firsts=[0], seconds=[601])
@example(firsts=[300], seconds=[0])  # the deletion first
def test_esql_ordered_temporal_alerts_exactly_when_a_first_step_precedes_a_second_within_the_timespan(firsts, seconds):
    """Run with the ES|QL evaluator: one row for the group exactly when some t1 <= t2 <= t1 + 600 (correlations.py's
    meaning, the reference engine's), whatever the other events."""
    docs = [_step_doc("DeleteAccessKey", t) for t in firsts] + [_step_doc("DeleteUser", t) for t in seconds]
    docs.append(_step_doc("DeleteUser", 0, user="someone-else"))  # another group, never paired
    rows = esql.run(convert(ESQLBackend), docs).rows if docs else []
    expected = any(t1 <= t2 <= t1 + 600 for t1 in firsts for t2 in seconds)
    assert [(r["aws.cloudtrail.user_identity.arn"], r["user.target.name"]) for r in rows] == (
        [("arn:aws:iam::111122223333:user/admin", "bob")] if expected else []
    )


# --- ES|QL: the counted events at most the timespan apart ------------------------------------------------

EVENT_COUNT = (
    "    type: event_count\n    rules:\n        - user_deleted\n    group-by:\n        - userIdentity.arn\n"
    "    timespan: 10m\n    condition:\n        gte: 3\n"
)
WINDOW = [
    "| stats event_count=count(), first_seen=min(`@timestamp`), last_seen=max(`@timestamp`) by aws.cloudtrail.user_identity.arn",
    '| where event_count >= 3 and date_diff("second", first_seen, last_seen) <= 600',
]


def test_esql_event_count_is_bounded_by_the_timespan():
    assert convert(ESQLBackend, EVENT_COUNT).split("\n") == [
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider=="iam.amazonaws.com" and '
        'event.action=="DeleteUser"',
        *WINDOW,
    ]


def test_esql_temporal_is_bounded_by_the_timespan():
    """All rules within the timespan: the backend's buckets used to be dropped with no bound put in their place, so
    a key removal and a deletion hours apart in one look-back alerted."""
    body = (
        "    type: temporal\n    rules:\n        - key_removed\n        - user_deleted\n    group-by:\n"
        "        - userIdentity.arn\n    timespan: 10m\n"
    )
    assert convert(ESQLBackend, body).split("\n")[2:] == [
        "| stats event_type_count=count_distinct(event_type), first_seen=min(`@timestamp`), last_seen=max(`@timestamp`) "
        "by aws.cloudtrail.user_identity.arn",
        '| where event_type_count >= 2 and date_diff("second", first_seen, last_seen) <= 600',
    ]


@pytest.mark.parametrize("condition", ["lte: 2", "lt: 3", "eq: 3", "neq: 3"])
def test_esql_refuses_thresholds_other_than_at_least(condition):
    """Over one run's events bounded in span, 'fewer than N' holds for a larger burst the look-back cuts short; the
    buckets used to be dropped and such a condition compared over the whole look-back."""
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="gte/gt thresholds"):
        convert(ESQLBackend, EVENT_COUNT.replace("gte: 3", condition))


def test_esql_refuses_a_temporal_rule_name_the_backend_writes_wrongly():
    body = (
        "    type: temporal\n    rules:\n        - 'key*removed'\n        - user_deleted\n    group-by:\n"
        "        - userIdentity.arn\n    timespan: 10m\n"
    )
    text = correlation(body).replace("name: key_removed", "name: 'key*removed'")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="rule name 'key\\*removed'"):
        ESQLBackend(processing_pipeline=ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(text))


def test_esql_window_fails_on_a_layout_it_does_not_know():
    with pytest.raises(BackendLayoutChanged, match="stats event_count=count\\(\\) by timebucket"):
        esql_window("from x | where a\n| stats event_count=count() by timebucket\n| where event_count >= 3", 600)


def test_esql_backend_templates_are_the_layout_the_window_reads():
    """esql_window edits the lines these templates write (pySigma-backend-elasticsearch 2.1.1)."""
    assert ESQLBackend.default_correlation_query == {"stats": "{search}\n{aggregate}\n{condition}"}
    assert ESQLBackend.temporal_correlation_query == {"stats": "{search}\n{typing}\n{aggregate}\n{condition}"}
    bucket = "| eval timebucket=date_trunc({timespan}, @timestamp) | stats "
    assert ESQLBackend.event_count_aggregation_expression == {"stats": bucket + "event_count=count(){fields}{groupby}"}
    assert ESQLBackend.value_count_aggregation_expression == {"stats": bucket + "value_count=count_distinct({field}){fields}{groupby}"}
    assert ESQLBackend.temporal_aggregation_expression == {"stats": bucket + "event_type_count=count_distinct(event_type){fields}{groupby}"}
    assert ESQLBackend.groupby_expression == {"stats": " by timebucket{fields}"}
    assert ESQLBackend.groupby_expression_nofield == {"stats": " by timebucket"}
    assert ESQLBackend.correlation_fields_field_expression == {"stats": ", {field}=values({field})"}
    assert ESQLBackend.event_count_condition_expression == {"stats": "| where event_count {op} {count}"}


HOSTILE_SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _with_value(value: str) -> list[dict]:
    base = {
        "title": "Hostile", "id": "22222222-0000-4000-8000-0000000000a1", "name": "hostile", "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {"eventName": "DeleteUser", "userAgent": sigma_literal(value)}, "condition": "sel"},
    }
    count = {
        "title": "Burst", "id": "22222222-0000-4000-8000-0000000000a2", "name": "burst", "status": "test",
        "correlation": {
            "type": "event_count", "rules": ["hostile"], "group-by": ["userIdentity.arn"], "timespan": "10m",
            "condition": {"gte": 3},
        },
    }
    return [base, count]


@HOSTILE_SETTINGS
@given(value=HOSTILE)
@example(value="x by timebucket, y")
@example(value="| eval timebucket=date_trunc(10minutes, @timestamp) | stats")
@example(value="a | stats event_count=count() b")
@example(value="\n| where event_count >= 3")
def test_esql_window_keeps_the_rule_and_its_values(value):
    """The search is the rule's own query, byte for byte; only the two template lines change (a value holding the
    template's words used to be rewritten inside its string)."""
    base, count = _with_value(value)
    backend = ESQLBackend(processing_pipeline=ecs_cloudtrail_pipeline())
    try:
        (alone,) = backend.convert(SigmaCollection.from_dicts([base]))
    except SigmaError:  # a value the integration deletes at ingest: refused, as test_elastic_hostile_values.py checks
        return
    query = ESQLBackend(processing_pipeline=ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([base, count]))[-1]
    search, *window = query.split("\n")
    assert search == alone
    assert ("user_agent.original", value) in esql.compared_values(search)
    assert window == WINDOW


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
