"""The EventBridge backend in the pySigma style: one behaviour per test, the expected pattern spelled out."""

from __future__ import annotations

import json

import pytest
from sigma.backends.eventbridge import EventBridgeBackend
from sigma.backends.eventbridge.envelope import SOURCES
from sigma.backends.eventbridge.pattern import Conj, event_pattern
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError

from .conftest import DOCUMENTED_SOURCES, moto_matches, rule_yaml, wrap

ANY_AWS = [{"prefix": "aws."}]
VIA_CLOUDTRAIL = [{"suffix": " via CloudTrail"}]


def refusal(backend, detection: str) -> str:
    with pytest.raises(SigmaError) as raised:
        backend.convert(SigmaCollection.from_yaml(rule_yaml(detection)))
    return str(raised.value.args[0])


def test_envelope_for_a_pinned_global_service(convert):
    assert convert("sel: {eventSource: iam.amazonaws.com, eventName: DeleteUser}\ncondition: sel") == {
        "source": ["aws.iam"],
        "detail-type": VIA_CLOUDTRAIL,
        "detail": {"eventSource": ["iam.amazonaws.com"], "eventName": ["DeleteUser"]},
    }


def test_envelope_without_a_stated_source_keeps_aws_sources_only(convert):
    pattern = convert("sel: {eventSource: transfer.amazonaws.com, eventName: DeleteUser}\ncondition: sel")
    assert pattern["source"] == ANY_AWS


def test_envelope_when_one_alternative_leaves_the_source_open(convert):
    pattern = convert("a: {eventSource: iam.amazonaws.com}\nb: {eventName: ConsoleLogin}\ncondition: a or b")
    assert pattern["source"] == ANY_AWS


def test_pinned_event_type_names_the_api_call_detail_type(convert):
    pattern = convert("sel: {eventType: AwsApiCall, eventName: DeleteUser}\ncondition: sel")
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]


SERVICE_EVENT = """sel:
    eventSource: organizations.amazonaws.com
    eventName: AccountDepartedOrganization
    eventType: AwsServiceEvent
condition: sel"""


def test_pinned_service_event_type_names_the_service_event_detail_type(convert):
    """AWS Organizations' membership records are service events: EventBridge delivers them as "AWS Service Event via
    CloudTrail" (eb-service-event-cloudtrail.html); the rule's eventType decides the detail-type (it was the open
    suffix before, which also let an API-call envelope through)."""
    assert convert(SERVICE_EVENT)["detail-type"] == ["AWS Service Event via CloudTrail"]


def test_the_service_event_pattern_matches_the_service_event_envelope_only(convert):
    """In moto's matcher: the record as EventBridge delivers it matches; the same record in an API-call envelope
    (which CloudTrail never sends for a service event) does not."""
    record = {"eventSource": "organizations.amazonaws.com", "eventName": "AccountDepartedOrganization",
              "eventType": "AwsServiceEvent", "eventTime": "2026-06-09T14:41:09Z", "eventID": "e1",
              "recipientAccountId": "111122223333", "awsRegion": "us-east-1",
              "serviceEventDetails": {"departedMethod": "Left"}}
    text = json.dumps(convert(SERVICE_EVENT))
    assert moto_matches(text, wrap(record))
    assert not moto_matches(text, {**wrap(record), "detail-type": "AWS API Call via CloudTrail"})


def test_sigma_compares_case_insensitively(detail):
    assert detail("sel: {userIdentity.type: IAMUser}\ncondition: sel") == {
        "userIdentity": {"type": [{"equals-ignore-case": "IAMUser"}]}
    }


def test_cased_modifier_compares_exactly(detail):
    assert detail("sel: {userIdentity.type|cased: IAMUser}\ncondition: sel") == {"userIdentity": {"type": ["IAMUser"]}}


def test_value_without_letters_compares_exactly(detail):
    assert detail("sel: {recipientAccountId: '111122223333'}\ncondition: sel") == {"recipientAccountId": ["111122223333"]}


def test_canonical_case_field_compares_exactly_lowercased(detail):
    assert detail("sel: {eventSource: IAM.amazonaws.com}\ncondition: sel") == {"eventSource": ["iam.amazonaws.com"]}


def test_startswith_is_prefix_ignoring_case(detail):
    assert detail("sel: {userAgent|startswith: aws-cli/}\ncondition: sel") == {
        "userAgent": [{"prefix": {"equals-ignore-case": "aws-cli/"}}]
    }


def test_endswith_is_suffix_ignoring_case(detail):
    assert detail("sel: {userIdentity.arn|endswith: /Admin}\ncondition: sel") == {
        "userIdentity": {"arn": [{"suffix": {"equals-ignore-case": "/Admin"}}]}
    }


def test_contains_without_letters_is_a_wildcard(detail):
    assert detail("sel: {sourceIPAddress|contains: '.0.113.'}\ncondition: sel") == {
        "sourceIPAddress": [{"wildcard": "*.0.113.*"}]
    }


def test_contains_with_letters_is_refused(backend):
    assert refusal(backend, "sel: {userAgent|contains: kali}\ncondition: sel") == (
        "userAgent: '*kali*' needs a wildcard match, which EventBridge makes "
        "case-sensitively only, while Sigma compares case-insensitively (use |cased if the letter case is known)"
    )


def test_cased_contains_is_a_wildcard(detail):
    assert detail("sel: {userAgent|cased|contains: kali}\ncondition: sel") == {"userAgent": [{"wildcard": "*kali*"}]}


def test_literal_asterisk_and_backslash_are_escaped_in_a_wildcard(detail):
    assert detail("sel: {eventName|cased: 'Get\\*Obj*ct'}\ncondition: sel") == {"eventName": [{"wildcard": "Get\\*Obj*ct"}]}
    assert detail("sel: {userAgent|cased|contains: 'a\\\\b'}\ncondition: sel") == {"userAgent": [{"wildcard": "*a\\\\b*"}]}


def test_literal_asterisk_needs_no_escape_in_a_prefix(detail):
    assert detail("sel: {eventName|cased: 'Get\\*Obj*'}\ncondition: sel") == {"eventName": [{"prefix": "Get*Obj"}]}


def test_consecutive_wildcards_collapse(detail):
    assert detail("sel: {userAgent|cased: 'a**b'}\ncondition: sel") == {"userAgent": [{"wildcard": "a*b"}]}


def test_single_character_wildcard_is_refused(backend):
    assert refusal(backend, "sel: {userAgent: 'a?b'}\ncondition: sel") == (
        "userAgent: the single-character wildcard '?' has no event pattern form"
    )


def test_list_of_values_is_one_field_list(detail):
    assert detail("sel: {eventName: [DeleteUser, DeleteRole]}\ncondition: sel") == {"eventName": ["DeleteUser", "DeleteRole"]}


def test_or_across_fields_is_dollar_or(detail):
    assert detail("a: {eventName: DeleteUser}\nb: {errorCode|exists: true}\ncondition: a or b") == {
        "$or": [{"eventName": ["DeleteUser"]}, {"errorCode": [{"exists": True}]}]
    }


def test_not_keeps_events_without_the_field(detail):
    assert detail("sel: {eventName: DeleteUser}\nf: {userIdentity.type: Root}\ncondition: sel and not f") == {
        "eventName": ["DeleteUser"],
        "$or": [
            {"userIdentity": {"type": [{"anything-but": {"equals-ignore-case": "Root"}}, None]}},
            {"userIdentity": {"type": [{"exists": False}]}},
        ],
    }


def test_not_of_a_list_is_one_anything_but_list(detail):
    assert detail("sel: {eventName: DeleteUser}\nf: {errorCode: [AccessDenied, NoSuchEntity]}\ncondition: sel and not f") == {
        "eventName": ["DeleteUser"],
        "$or": [
            {"errorCode": [{"anything-but": {"equals-ignore-case": ["AccessDenied", "NoSuchEntity"]}}, None]},
            {"errorCode": [{"exists": False}]},
        ],
    }


def test_cased_not_startswith_is_anything_but_prefix(detail):
    assert detail("f: {userIdentity.arn|cased|startswith: 'arn:aws:sts::'}\ncondition: not f") == {
        "$or": [
            {"userIdentity": {"arn": [{"anything-but": {"prefix": "arn:aws:sts::"}}, None]}},
            {"userIdentity": {"arn": [{"exists": False}]}},
        ]
    }


def test_not_startswith_ignoring_case_is_refused(backend):
    assert refusal(backend, "f: {userAgent|startswith: Boto3}\ncondition: not f") == (
        "userAgent: not startswith 'Boto3' compares case-insensitively; anything-but "
        "has prefix and equals-ignore-case, not both"
    )


def test_null_is_null_or_missing(detail):
    assert detail("sel: {requestParameters.userName: null}\ncondition: sel") == {
        "$or": [{"requestParameters": {"userName": [None]}}, {"requestParameters": {"userName": [{"exists": False}]}}]
    }


def test_not_null_is_exists(detail):
    assert detail("sel: {requestParameters.userName: null}\ncondition: not sel") == {
        "requestParameters": {"userName": [{"exists": True}]}
    }


def test_exists_false_is_null_or_missing(detail):
    assert detail("sel: {errorCode|exists: false}\ncondition: sel") == {
        "$or": [{"errorCode": [None]}, {"errorCode": [{"exists": False}]}]
    }


def test_number_is_numeric_equality(detail):
    assert detail("sel: {additionalEventData.bytesTransferredOut: 42}\ncondition: sel") == {
        "additionalEventData": {"bytesTransferredOut": [{"numeric": ["=", 42]}]}
    }


def test_comparison_is_numeric(detail):
    assert detail("sel: {additionalEventData.bytesTransferredOut|gte: 1000000}\ncondition: sel") == {
        "additionalEventData": {"bytesTransferredOut": [{"numeric": [">=", 1000000]}]}
    }


def test_number_outside_the_numeric_range_is_refused(backend):
    assert "outside the numeric matching range" in refusal(backend, "sel: {additionalEventData.x|gt: 6000000000}\ncondition: sel")


def test_boolean_matches_as_the_reference_reads_it(detail):
    assert detail("sel: {readOnly: false}\ncondition: sel") == {
        "readOnly": [False, {"equals-ignore-case": "false"}, {"numeric": ["=", 0]}]
    }


def test_negated_boolean_is_refused(backend):
    assert refusal(backend, "sel: {readOnly: true}\ncondition: not sel") == (
        "negated boolean (readOnly): anything-but takes strings or numbers only"
    )


def test_cidr(detail):
    assert detail("sel: {sourceIPAddress|cidr: 203.0.113.0/24}\ncondition: sel") == {
        "sourceIPAddress": [{"cidr": "203.0.113.0/24"}]
    }


def test_negated_cidr_is_refused(backend):
    assert "negated CIDR match" in refusal(backend, "sel: {sourceIPAddress|cidr: 10.0.0.0/8}\ncondition: not sel")


def test_regex_is_refused(backend):
    assert refusal(backend, "sel: {userAgent|re: '^aws'}\ncondition: sel") == (
        "regular expressions (userAgent|re) have no event pattern matcher"
    )


def test_keywords_are_refused(backend):
    assert "keywords ('mimikatz') cannot be expressed" in refusal(backend, "kw: [mimikatz]\ncondition: kw")


def test_two_conditions_on_one_field_are_refused(backend):
    assert refusal(backend, "a: {eventName|cased|startswith: Delete}\nb: {eventName: DeleteUser}\ncondition: a and not b") == (
        "two conditions on eventName must hold together; a pattern gives each field one "
        "list of alternatives (an object names a field once)"
    )


def test_two_or_groups_are_distributed(detail):
    assert detail("a: {eventName: A}\nb: {errorCode: X}\nc: {userAgent: U}\nd: {sourceIPAddress: '1.2.3.4'}\ncondition: (a or b) and (c or d)") == {
        "$or": [
            {"eventName": ["A"], "$or": [{"userAgent": [{"equals-ignore-case": "U"}]}, {"sourceIPAddress": ["1.2.3.4"]}]},
            {"errorCode": [{"equals-ignore-case": "X"}], "$or": [{"userAgent": [{"equals-ignore-case": "U"}]}, {"sourceIPAddress": ["1.2.3.4"]}]},
        ]
    }


def test_array_element_by_position_is_refused(backend):
    assert "names an array element by its position" in refusal(backend, "sel: {requestParameters.layers.0: x}\ncondition: sel")


def test_request_parameter_array_is_refused(backend):
    message = refusal(backend, "sel: {eventSource: lambda.amazonaws.com, requestParameters.layers|cased: x}\ncondition: sel")
    assert message.startswith(
        "eventbridge_cloudtrail: requestParameters.layers: requestParameters.layers is an array in lambda.amazonaws.com "
        "requests. EventBridge matches a pattern against every element of an array"
    )


def test_whole_object_is_refused(backend):
    assert "hold a JSON object or array" in refusal(backend, "sel: {requestParameters: x}\ncondition: sel")


def test_unknown_field_is_refused(backend):
    assert "field(s) src_ip do not exist in CloudTrail records" in refusal(backend, "sel: {src_ip: x}\ncondition: sel")


def test_correlation_is_refused(backend):
    rules = rule_yaml("sel: {eventName: DeleteUser}\ncondition: sel").replace("title: Test", "title: Test\nname: base") + """
---
title: Many
id: 5f1b4d62-0000-4000-8000-000000000003
correlation:
    type: event_count
    rules: [base]
    group-by: [userIdentity.arn]
    timespan: 10m
    condition: {gte: 3}
"""
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="correlation rules count events over time"):
        EventBridgeBackend(__import__("sigma.pipelines.cloudtrail", fromlist=["x"]).eventbridge_cloudtrail_pipeline()).convert(
            SigmaCollection.from_yaml(rules)
        )


def test_pattern_over_the_size_quota_is_refused():
    conj = Conj({("eventName",): [f"Name{i:04d}" for i in range(300)]})
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="EventBridge accepts at most 2048"):
        event_pattern(conj)
    assert len(event_pattern(conj, max_length=4096).text()) <= 4096


def test_or_combinations_over_the_limit_are_refused():
    group = [Conj({("a",): ["1"]}), Conj({("b",): ["2"]})]
    conj = Conj(ors=[list(group) for _ in range(10)])  # 2**10 = 1024 alternatives
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="1024 \\$or combinations; EventBridge allows 1000"):
        event_pattern(conj, max_length=10**9)


def test_state_includes_read_only_events_only_where_needed(backend):
    def compiled(detection):
        rule = SigmaCollection.from_yaml(rule_yaml(detection)).rules[0]
        backend.last_processing_pipeline = None
        backend.init_processing_pipeline("default")
        backend.last_processing_pipeline.apply(rule)
        return backend.compiled(backend.convert_condition(rule.detection.parsed_condition[0].parsed, None))

    assert compiled("sel: {eventName: DeleteUser}\ncondition: sel").state == "ENABLED"
    assert compiled("sel: {eventName: [DeleteUser, ListUsers]}\ncondition: sel").state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert compiled("sel: {userIdentity.type: Root}\ncondition: sel").state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert compiled("sel: {eventSource: iam.amazonaws.com, eventName: DeleteUser}\ncondition: sel").regions == "us-east-1"
    assert compiled("sel: {eventSource: ec2.amazonaws.com, eventName: RunInstances}\ncondition: sel").regions == "every Region"


def test_pattern_size_option_stays_within_put_rule_limit():
    from sigma.exceptions import SigmaConfigurationError

    assert EventBridgeBackend(max_pattern_length="4096").max_pattern_length == 4096
    with pytest.raises(SigmaConfigurationError, match="max_pattern_length must be 1 to 4096"):
        EventBridgeBackend(max_pattern_length=5000)


@pytest.mark.parametrize("event_source", sorted(SOURCES))
def test_every_stated_source_is_the_one_aws_documents(event_source):
    """The pack's source table against the one written out in the tests from AWS's event reference."""
    assert SOURCES[event_source] == DOCUMENTED_SOURCES.get(event_source), (
        f"{event_source}: the pack says {SOURCES[event_source]!r}; add the documented pair to DOCUMENTED_SOURCES "
        "(tests/eventbridge/conftest.py) with its page when the pack learns a new service"
    )


@pytest.mark.parametrize("event_source", sorted(SOURCES))
def test_a_pinned_source_matches_the_event_aws_delivers_for_it(convert, event_source):
    """Behaviour, not text: a rule pinning the event source matches that service's record in the envelope AWS
    documents for it (moto's matcher), and not the same record under another service's source."""
    text = json.dumps(convert(f"sel: {{eventSource: {event_source}, eventName: Anything}}\ncondition: sel"))
    record = {"eventVersion": "1.11", "eventTime": "2026-11-23T10:00:00Z", "eventSource": event_source,
              "eventName": "Anything", "eventType": "AwsApiCall", "eventID": "e1", "awsRegion": "us-east-1"}
    assert moto_matches(text, wrap(record))
    assert not moto_matches(text, {**wrap(record), "source": "aws.events"})
