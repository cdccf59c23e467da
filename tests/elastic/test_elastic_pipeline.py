"""The `ecs_cloudtrail` pipeline, pySigma style: one behaviour per test, the expected query spelled out."""

from __future__ import annotations

import pytest
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError

from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline
from sigma.pipelines.cloudtrail.ecs_fields import ECS_FIELDS, ECS_NO_HOME, ECS_SHARED_FIELDS, NoEcsHome, ecs_field


def rule(detection: str, extra: str = "") -> SigmaCollection:
    return SigmaCollection.from_yaml(
        f"""
title: Test
id: 5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f0001
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
{detection}
{extra}
"""
    )


def lucene(collection) -> list[str]:
    return LuceneBackend(ecs_cloudtrail_pipeline()).convert(collection)


def eql(collection) -> list[str]:
    return EqlBackend(ecs_cloudtrail_pipeline()).convert(collection)


def esql(collection) -> list[str]:
    return ESQLBackend(ecs_cloudtrail_pipeline()).convert(collection)


SIMPLE = """    sel:
        eventSource: iam.amazonaws.com
        eventName: DeleteUser
    condition: sel"""


# ----------------------------------------------------------------------------------------- mapping
def test_lucene_maps_event_source_and_name():
    assert lucene(rule(SIMPLE)) == ["event.provider:iam.amazonaws.com AND event.action:DeleteUser"]


def test_eql_maps_event_source_and_name():
    assert eql(rule(SIMPLE)) == ['any where event.provider:"iam.amazonaws.com" and event.action:"DeleteUser"']


def test_esql_maps_event_source_and_name_and_reads_the_integration_index():
    assert esql(rule(SIMPLE)) == [
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider=="iam.amazonaws.com" and event.action=="DeleteUser"'
    ]


def test_user_identity_arn_maps_to_aws_cloudtrail_user_identity_arn():
    q = rule("    sel:\n        userIdentity.arn: 'arn:aws:iam::111122223333:user/alice'\n    condition: sel")
    assert lucene(q) == ["aws.cloudtrail.user_identity.arn:arn\\:aws\\:iam\\:\\:111122223333\\:user\\/alice"]


def test_error_code_maps_to_aws_cloudtrail_error_code_not_event_outcome():
    q = rule("    sel:\n        errorCode: AccessDenied\n    condition: sel")
    assert lucene(q) == ["aws.cloudtrail.error_code:AccessDenied"]


def test_error_code_exists_maps_to_exists_on_error_code():
    q = rule("    sel:\n        errorCode|exists: true\n    condition: sel")
    assert lucene(q) == ["_exists_:aws.cloudtrail.error_code"]


def test_request_parameters_key_maps_to_the_flattened_field():
    q = rule("    sel:\n        requestParameters.roleName: bob\n    condition: sel")
    assert lucene(q) == ["aws.cloudtrail.flattened.request_parameters.roleName:bob"]


def test_request_parameters_user_name_maps_to_user_target_name():
    """The integration copies requestParameters.userName into the keyword user.target.name, which EQL and ES|QL
    can read (the flattened copy they cannot)."""
    detection = "    sel:\n        requestParameters.userName: bob\n    condition: sel"
    assert lucene(rule(detection)) == ["user.target.name:bob"]
    assert esql(rule(detection)) == ['from logs-aws.cloudtrail-* metadata _id, _index, _version | where user.target.name=="bob"']


def test_nested_request_parameters_key_keeps_its_path():
    q = rule("    sel:\n        requestParameters.policy.name: p\n    condition: sel")
    assert lucene(q) == ["aws.cloudtrail.flattened.request_parameters.policy.name:p"]


def test_source_ip_address_maps_to_source_address():
    q = rule("    sel:\n        sourceIPAddress: 192.0.2.10\n    condition: sel")
    assert lucene(q) == ["source.address:192.0.2.10"]


def test_aws_region_and_user_agent():
    q = rule("    sel:\n        awsRegion: us-east-1\n        userAgent: aws-cli\n    condition: sel")
    assert esql(q) == [
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where cloud.region=="us-east-1" and user_agent.original=="aws-cli"'
    ]


def test_every_mapped_field_is_a_documented_ecs_or_integration_field():
    for cloudtrail, ecs in ECS_FIELDS.items():
        assert ecs == "@timestamp" or ecs.split(".")[0] in ("aws", "event", "cloud", "source", "user_agent", "tls", "user"), cloudtrail


# ----------------------------------------------------------------------------------- refusals
def test_field_without_ecs_home_fails_naming_the_field():
    q = rule("    sel:\n        sharedEventID: x\n    condition: sel")
    with pytest.raises(SigmaTransformationError, match=r"ecs_cloudtrail: field sharedEventID has no field .*sharedEventId"):
        lucene(q)


def test_field_sharing_its_ecs_home_fails_naming_the_field():
    q = rule("    sel:\n        userIdentity.userName: alice\n    condition: sel")
    with pytest.raises(SigmaTransformationError, match=r"field userIdentity\.userName .*user\.name also holds"):
        eql(q)


def test_unknown_cloudtrail_field_fails_before_mapping():
    q = rule("    sel:\n        eventname2: x\n    condition: sel")
    with pytest.raises(SigmaTransformationError, match="eventname2"):
        esql(q)


def test_whole_request_parameters_object_is_refused():
    q = rule("    sel:\n        requestParameters|contains: bob\n    condition: sel")
    with pytest.raises(SigmaTransformationError, match="Java Map rendering"):
        lucene(q)


def test_value_dropped_at_ingest_is_refused():
    q = rule("    sel:\n        userAgent: '-'\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="deletes the value '-' at ingest"):
        lucene(q)


def test_wildcard_on_flattened_field_is_refused():
    q = rule("    sel:\n        requestParameters.roleName|contains: adm\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="wildcards are not supported on aws.cloudtrail.flattened"):
        lucene(q)


def test_esql_refuses_flattened_fields():
    """A nested key (the rendering matches top-level keys only: elastic_rendered.py)."""
    q = rule("    sel:\n        requestParameters.policy.status: Inactive\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="ES\\|QL cannot read flattened fields"):
        esql(q)


def test_eql_refuses_flattened_fields():
    """A nested key (the rendering matches top-level keys only: elastic_rendered.py)."""
    q = rule("    sel:\n        requestParameters.policy.status: Inactive\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=r"EQL refuses sub-fields of flattened fields .*#101985"):
        eql(q)


SERVICE_EVENT_DETAIL = "    sel:\n        serviceEventDetails.departedMethod: Left\n    condition: sel"
SERVICE_EVENT_RENDERING = r"\{(.*\,\ )?departedMethod\=[Ll][Ee][Ff][Tt](\,\ .*)?\}"


def test_eql_matches_a_service_event_detail_in_its_keyword_rendering():
    """The integration renders serviceEventDetails into aws.cloudtrail.service_event_details as it does
    requestParameters (script_duplicate_rules_fields): EQL reads the entry there (it refused the key before)."""
    assert eql(rule(SERVICE_EVENT_DETAIL)) == [
        "any where aws.cloudtrail.service_event_details regex~ " + '"' + SERVICE_EVENT_RENDERING.replace("\\", "\\\\") + '"'
    ]


def test_esql_matches_a_service_event_detail_in_its_keyword_rendering():
    (query,) = esql(rule(SERVICE_EVENT_DETAIL))
    assert query.endswith('aws.cloudtrail.service_event_details rlike "' + SERVICE_EVENT_RENDERING.replace("\\", "\\\\") + '"')


def test_lucene_keeps_a_plain_service_event_detail_on_the_flattened_key():
    assert lucene(rule(SERVICE_EVENT_DETAIL)) == ["aws.cloudtrail.flattened.service_event_details.departedMethod:Left"]


def test_eql_refuses_a_literal_wildcard_character():
    q = rule("    sel:\n        userAgent: 'a\\*b'\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="literal \\* or \\?"):
        eql(q)


def test_lucene_refuses_a_value_spelled_like_an_operator():
    q = rule("    sel:\n        userAgent: AND\n    condition: sel")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="read as an operator"):
        lucene(q)


def test_keyword_search_is_refused():
    q = rule("    keywords:\n        - DeleteUser\n    condition: keywords")
    with pytest.raises(SigmaTransformationError, match="keyword \\(field-less\\)"):
        lucene(q)


def test_ecs_field_lookup_raises_for_fields_without_home():
    for name in list(ECS_NO_HOME) + list(ECS_SHARED_FIELDS):
        with pytest.raises(NoEcsHome):
            ecs_field(name)


def test_shared_fields_are_shown_in_alert_details():
    assert ecs_field("userIdentity.userName", display=True) == "user.name"


# ----------------------------------------------------------------------------- query repairs
def test_lucene_escapes_line_breaks_in_values():
    q = rule('    sel:\n        userAgent: "a\\nb"\n    condition: sel')
    assert lucene(q) == ["user_agent.original:a\\\nb"]


def test_eql_writes_line_breaks_as_escape_sequences():
    q = rule('    sel:\n        userAgent: "a\\nb"\n    condition: sel')
    assert eql(q) == ['any where user_agent.original:"a\\nb"']


def test_esql_writes_line_breaks_as_escape_sequences():
    q = rule('    sel:\n        userAgent: "a\\nb"\n    condition: sel')
    assert esql(q) == ['from logs-aws.cloudtrail-* metadata _id, _index, _version | where user_agent.original=="a\\nb"']


def test_esql_equality_keeps_a_literal_star_unescaped():
    q = rule("    sel:\n        userAgent: 'a\\*b'\n    condition: sel")
    assert esql(q) == ['from logs-aws.cloudtrail-* metadata _id, _index, _version | where user_agent.original=="a*b"']


# ------------------------------------------------------------------------------- correlations
CORRELATION = """
title: Base
id: 5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f0010
name: base_rule
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventSource: iam.amazonaws.com
        eventName: DeleteUser
    condition: sel
fields:
    - requestParameters.userName
    - errorCode
---
title: Burst
id: 5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f0011
status: test
correlation:
    type: event_count
    rules:
        - base_rule
    group-by:
        - userIdentity.arn
    timespan: 10m
    condition:
        {condition}
"""


def correlation(condition: str = "gte: 3"):
    collection = SigmaCollection.from_yaml(CORRELATION.replace("{condition}", condition))
    collection.resolve_rule_references()
    return collection


def test_esql_correlation_counts_events_within_the_timespan_and_drops_flattened_detail_fields():
    query = esql(correlation())[-1]
    assert query == (
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider=="iam.amazonaws.com" and event.action=="DeleteUser"\n'
        "| stats event_count=count(), first_seen=min(`@timestamp`), last_seen=max(`@timestamp`), "
        "user.target.name=values(user.target.name), aws.cloudtrail.error_code=values(aws.cloudtrail.error_code) "
        "by aws.cloudtrail.user_identity.arn\n"
        '| where event_count >= 3 and date_diff("second", first_seen, last_seen) <= 600'
    )


def test_eql_correlation_is_a_sequence_with_runs():
    query = eql(correlation())[-1]
    assert query == (
        "sequence by aws.cloudtrail.user_identity.arn with maxspan=10m \n"
        ' [any where event.provider:"iam.amazonaws.com" and event.action:"DeleteUser"]  with runs=3'
    )


def test_eql_refuses_correlations_other_than_at_least_n_events():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="EQL expresses event_count correlations with a gte condition"):
        eql(correlation("gt: 3"))
