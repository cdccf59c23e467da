"""The `splunk_cloudtrail` pipeline with pySigma's Splunk backend: one behaviour per test, the expected
search spelled out (pySigma's own test style)."""

from __future__ import annotations

import pytest
from evaluators.spl import parse_search_expr
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import (
    SigmaFeatureNotSupportedByBackendError,
    SigmaRuleLocation,
    SigmaTransformationError,
)
from sigma.pipelines.cloudtrail.splunk import scoped, splunk_cloudtrail_pipeline

from cloudtrail_pack.compilation import compile_rules
from cloudtrail_pack.registry import TARGETS
from cloudtrail_pack.targets import plugins

LOGSOURCE = "logsource:\n    product: aws\n    service: cloudtrail\n"


def rule(detection: str, extra: str = "", name: str = "test_rule") -> str:
    return (
        f"title: Test\nid: 9e7b2d1c-4f0a-4a57-9a7e-2f1d7c1b0a11\nname: {name}\nstatus: test\n{LOGSOURCE}"
        f"detection:\n{detection}{extra}level: medium\n"
    )


def convert(text: str, output_format: str = "default") -> list[str]:
    backend = SplunkBackend(processing_pipeline=splunk_cloudtrail_pipeline())
    return backend.convert(SigmaCollection.from_yaml(text), output_format)


SELECTION = "    selection:\n        eventSource: iam.amazonaws.com\n        eventName: DeleteUser\n    condition: selection\n"


def test_pipeline_is_the_registered_splunk_cloudtrail():
    assert plugins().pipelines["splunk_cloudtrail"] is splunk_cloudtrail_pipeline
    assert TARGETS["splunk"].pipeline == "splunk_cloudtrail"


def test_search_starts_with_scope_macro_and_ends_with_tuning_macro():
    assert convert(rule(SELECTION)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_fields_become_a_table_before_the_tuning_macro():
    fields = "fields:\n    - userIdentity.arn\n    - requestParameters.userName\n"
    assert convert(rule(SELECTION, fields)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n'
        "| table userIdentity.arn,requestParameters.userName\n"
        "| `cloudtrail_detection_pack_test_rule_filter`"
    ]


def test_tuning_macro_named_after_file_stem_without_rule_name():
    text = rule(SELECTION).replace("name: test_rule\n", "")
    collection = SigmaCollection.from_yaml(text, source=SigmaRuleLocation("sigma/iam/aws-iam-thing.yml"))
    backend = SplunkBackend(processing_pipeline=splunk_cloudtrail_pipeline())
    assert backend.convert(collection)[0].endswith("\n| `cloudtrail_detection_pack_aws_iam_thing_filter`")


def test_value_list_is_an_in_expression():
    detection = "    selection:\n        eventName:\n            - DeleteLoginProfile\n            - UpdateLoginProfile\n    condition: selection\n"
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` eventName IN ("DeleteLoginProfile", "UpdateLoginProfile")\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


ACCESS_KEY = (
    "    a:\n        eventName: DeleteAccessKey\n"
    "    b:\n        eventName: UpdateAccessKey\n        requestParameters.status: Inactive\n"
    "    s:\n        eventSource: iam.amazonaws.com\n"
    "    condition: s and (a or b)\n"
)


def test_or_of_and_is_fully_parenthesized():
    assert convert(rule(ACCESS_KEY)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND (eventName="DeleteAccessKey" OR '
        '(eventName="UpdateAccessKey" AND requestParameters.status="Inactive")))\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_grouped_search_reads_the_same_under_where_precedence():
    """The backend's text means a AND (b OR (c AND d)) only because the search command binds OR before
    AND; where/eval bind AND first. Ours has one reading under both orders, the search command's."""
    raw = (
        'eventSource="iam.amazonaws.com" eventName="DeleteAccessKey" OR '
        '(eventName="UpdateAccessKey" requestParameters.status="Inactive")'
    )
    assert parse_search_expr(raw) != parse_search_expr(raw, precedence="eval")
    (search,) = convert(rule(ACCESS_KEY))
    expression = search[len("`cloudtrail_detection_pack_cloudtrail` ") : search.index("\n")]
    assert parse_search_expr(expression) == parse_search_expr(expression, precedence="eval") == parse_search_expr(raw)


def test_or_of_terms_is_parenthesized():
    detection = (
        "    a:\n        eventName: DeleteUser\n    b:\n        requestParameters.userName: root\n"
        "    condition: a or b\n"
    )
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventName="DeleteUser" OR requestParameters.userName="root")\n'
        "| `cloudtrail_detection_pack_test_rule_filter`"
    ]


def test_not_of_a_group_keeps_the_group_parenthesized():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    filter:\n        userIdentity.type: AWSService\n        errorCode: AccessDenied\n"
        "    condition: selection and not filter\n"
    )
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventName="DeleteUser" AND '
        'NOT (userIdentity.type="AWSService" AND errorCode="AccessDenied"))\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_single_term_needs_no_parentheses():
    detection = "    selection:\n        eventName: DeleteUser\n    condition: selection\n"
    assert convert(rule(detection)) == ['`cloudtrail_detection_pack_cloudtrail` eventName="DeleteUser"\n| `cloudtrail_detection_pack_test_rule_filter`']


def test_pipeline_serves_only_the_splunk_backend():
    assert splunk_cloudtrail_pipeline().allowed_backends == frozenset({"splunk"})


def test_quote_backslash_and_pipe_are_escaped_by_the_backend():
    detection = "    selection:\n        requestParameters.userName: 'a\"b\\\\c|d'\n    condition: selection\n"
    assert convert(rule(detection)) == ['`cloudtrail_detection_pack_cloudtrail` requestParameters.userName="a\\"b\\\\c|d"\n| `cloudtrail_detection_pack_test_rule_filter`']


def test_sigma_wildcard_stays_a_search_wildcard():
    detection = "    selection:\n        userIdentity.arn|endswith: ':root'\n    condition: selection\n"
    assert convert(rule(detection)) == ['`cloudtrail_detection_pack_cloudtrail` userIdentity.arn="*:root"\n| `cloudtrail_detection_pack_test_rule_filter`']


def test_literal_asterisk_becomes_an_exact_regex():
    detection = "    selection:\n        requestParameters.policyName: 'Allow\\*'\n    condition: selection\n"
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` *\n| regex requestParameters.policyName="(?is)^Allow\\\\*(?!.)"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_single_character_wildcard_becomes_a_regex_dot():
    detection = "    selection:\n        requestParameters.userName: 'user?'\n    condition: selection\n"
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` *\n| regex requestParameters.userName="(?is)^user.(?!.)"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_newline_becomes_a_hex_escape_in_a_regex():
    detection = '    selection:\n        requestParameters.userName: "a\\nb"\n    condition: selection\n'
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` *\n| regex requestParameters.userName="(?is)^a\\\\x0ab(?!.)"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_cased_value_becomes_a_case_sensitive_regex():
    detection = "    selection:\n        requestParameters.userName|cased: Admin\n    condition: selection\n"
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` *\n| regex requestParameters.userName="(?s)^Admin(?!.)"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_backtick_becomes_a_hex_escape_in_a_regex():
    detection = "    selection:\n        requestParameters.userName: 'a`b'\n    condition: selection\n"
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` *\n| regex requestParameters.userName="(?is)^a\\\\x60b(?!.)"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


def test_exact_regex_joins_the_other_conditions_with_and():
    detection = (
        "    selection:\n        eventName: PutUserPolicy\n        requestParameters.policyName: 'a*b\\*'\n"
        "    condition: selection\n"
    )
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` eventName="PutUserPolicy"\n'
        '| regex requestParameters.policyName="(?is)^a.*b\\\\*(?!.)"\n'
        "| `cloudtrail_detection_pack_test_rule_filter`"
    ]


def test_exact_regex_under_or_is_refused():
    detection = "    selection:\n        requestParameters.userName:\n            - 'a\\*'\n            - b\n    condition: selection\n"
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="under OR"):
        convert(rule(detection))


def test_regex_under_not_is_refused():
    detection = (
        "    selection:\n        eventName: DeleteUser\n    filter:\n        userIdentity.arn|re: 'admin$'\n"
        "    condition: selection and not filter\n"
    )
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="under NOT"):
        convert(rule(detection))


def test_regex_under_and_is_a_regex_command():
    detection = (
        "    selection:\n        eventName: DeleteUser\n        userIdentity.arn|re: 'role/[a-z]+$'\n"
        "    condition: selection\n"
    )
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` eventName="DeleteUser"\n| regex userIdentity.arn="role/[a-z]+$"\n| `cloudtrail_detection_pack_test_rule_filter`'
    ]


# --- field references: an exact `| where` clause -------------------------------------------------------

SELF_SERVICE = (
    "    selection:\n        eventName: DeactivateMFADevice\n"
    "    filter_named:\n        userIdentity.type: IAMUser\n"
    "        requestParameters.userName|fieldref: userIdentity.userName\n"
    "    filter_implicit:\n        userIdentity.type: IAMUser\n        requestParameters.userName: null\n"
    "    condition: selection and not 1 of filter_*\n"
)


def test_negated_fieldref_conjunct_becomes_a_null_safe_case_insensitive_where():
    assert convert(rule(SELF_SERVICE)) == [
        '`cloudtrail_detection_pack_cloudtrail` eventName="DeactivateMFADevice"\n'
        "| where NOT (((isnotnull('userIdentity.type') AND lower('userIdentity.type')==lower(\"IAMUser\")) AND "
        "(isnotnull('requestParameters.userName') AND isnotnull('userIdentity.userName') AND "
        "lower('requestParameters.userName')==lower('userIdentity.userName'))) OR "
        "((isnotnull('userIdentity.type') AND lower('userIdentity.type')==lower(\"IAMUser\")) AND "
        "isnull('requestParameters.userName')))\n"
        "| `cloudtrail_detection_pack_test_rule_filter`"
    ]


def test_positive_fieldref_is_a_case_insensitive_where():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    same:\n        userIdentity.userName|fieldref: requestParameters.userName\n"
        "    condition: selection and same\n"
    )
    assert convert(rule(detection)) == [
        '`cloudtrail_detection_pack_cloudtrail` eventName="DeleteUser"\n'
        "| where (isnotnull('userIdentity.userName') AND isnotnull('requestParameters.userName') AND "
        "lower('userIdentity.userName')==lower('requestParameters.userName'))\n"
        "| `cloudtrail_detection_pack_test_rule_filter`"
    ]


def test_where_comes_before_the_table():
    fields = "fields:\n    - userIdentity.arn\n"
    (search,) = convert(rule(SELF_SERVICE, fields))
    assert search.endswith("isnull('requestParameters.userName')))\n| table userIdentity.arn\n| `cloudtrail_detection_pack_test_rule_filter`")


def test_cased_value_beside_a_fieldref_compares_case_sensitively():
    detection = SELF_SERVICE.replace("userIdentity.type: IAMUser\n        request", "userIdentity.type|cased: IAMUser\n        request")
    (search,) = convert(rule(detection))
    assert "(isnotnull('userIdentity.type') AND 'userIdentity.type'==\"IAMUser\") AND (isnotnull('requestParameters" in search


def test_where_string_escapes_quote_and_backslash():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    filter:\n        userAgent: 'a\"b\\c'\n        userIdentity.userName|fieldref: requestParameters.userName\n"
        "    condition: selection and not filter\n"
    )
    (search,) = convert(rule(detection))
    assert "lower('userAgent')==lower(\"a\\\"b\\\\c\")" in search


def test_fieldref_that_is_not_a_top_level_conjunct_is_refused():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    filter:\n        userIdentity.userName|fieldref: requestParameters.userName\n"
        "    condition: selection or not filter\n"
    )
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="top-level `and`"):
        convert(rule(detection))


def test_fieldref_startswith_is_refused():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    filter:\n        userIdentity.arn|fieldref|endswith: requestParameters.userName\n"
        "    condition: selection and not filter\n"
    )
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="startswith/endswith/contains"):
        convert(rule(detection))


def test_wildcard_beside_a_fieldref_is_refused():
    detection = (
        "    selection:\n        eventName: DeleteUser\n"
        "    filter:\n        userAgent|startswith: aws-cli\n        userIdentity.userName|fieldref: requestParameters.userName\n"
        "    condition: selection and not filter\n"
    )
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="only plain strings, null and exists"):
        convert(rule(detection))


def test_correlation_over_a_rule_with_fieldref_keeps_its_where():
    (search,) = convert(correlation(EVENT_COUNT, SELF_SERVICE))
    assert search.startswith(
        '`cloudtrail_detection_pack_cloudtrail` eventName="DeactivateMFADevice"\n| where NOT (((isnotnull('
    )
    assert search.endswith(
        "isnull('requestParameters.userName')))\n| sort 0 _time\n"
        "| streamstats time_window=10m count as event_count by userIdentity.arn\n"
        "| where event_count >= 3\n| `cloudtrail_detection_pack_test_many_filter`"
    )


def test_keywords_are_refused():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="keyword"):
        convert(rule("    keywords:\n        - DeleteUser\n    condition: keywords\n"))


def test_unknown_table_field_is_refused():
    with pytest.raises(SigmaTransformationError, match="userArn"):
        convert(rule(SELECTION, "fields:\n    - userArn\n"))


def test_unknown_detection_field_is_refused():
    with pytest.raises(SigmaTransformationError, match="EventName"):
        convert(rule("    selection:\n        EventName: DeleteUser\n    condition: selection\n"))


def test_other_log_sources_are_refused():
    text = rule(SELECTION).replace("product: aws\n    service: cloudtrail", "product: windows\n    service: security")
    with pytest.raises(SigmaTransformationError, match="product: aws, service: cloudtrail"):
        convert(text)


def test_savedsearches_output_format_is_refused():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="output format"):
        convert(rule(SELECTION), "savedsearches")


# --- correlations --------------------------------------------------------------------------------------


def correlation(body: str, base: str = SELECTION) -> str:
    return (
        rule(base)
        + "---\ntitle: Many\nid: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\nname: test_many\nstatus: test\n"
        + "correlation:\n    rules:\n        - test_rule\n"
        + body
        + "level: high\n"
    )


EVENT_COUNT = (
    "    type: event_count\n    group-by:\n        - userIdentity.arn\n    timespan: 10m\n"
    "    condition:\n        gte: 3\n"
)


def test_event_count_is_a_sliding_window_threshold():
    assert convert(correlation(EVENT_COUNT)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n'
        "| sort 0 _time\n"
        "| streamstats time_window=10m count as event_count by userIdentity.arn\n"
        "| where event_count >= 3\n"
        "| `cloudtrail_detection_pack_test_many_filter`"
    ]


def test_value_count_counts_distinct_values():
    body = (
        "    type: value_count\n    group-by:\n        - userIdentity.arn\n    timespan: 1h\n"
        "    condition:\n        gt: 4\n        field: requestParameters.userName\n"
    )
    assert convert(correlation(body)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n'
        "| sort 0 _time\n"
        "| eval sigma_value=lower('requestParameters.userName'), sigma_group1=lower('userIdentity.arn')\n"
        "| streamstats time_window=1h dc(sigma_value) as value_count by sigma_group1\n"
        "| where value_count > 4\n"
        "| `cloudtrail_detection_pack_test_many_filter`"
    ]


def test_correlation_without_group_by_counts_all_events():
    body = "    type: event_count\n    timespan: 90s\n    condition:\n        gte: 10\n"
    assert convert(correlation(body)) == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n'
        "| sort 0 _time\n"
        "| streamstats time_window=90s count as event_count\n"
        "| where event_count >= 10\n"
        "| `cloudtrail_detection_pack_test_many_filter`"
    ]


def test_week_timespan_is_written_in_days():
    assert "time_window=14d " in convert(correlation(EVENT_COUNT.replace("10m", "2w")))[0]


def test_month_timespan_is_refused():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="no fixed length"):
        convert(correlation(EVENT_COUNT.replace("10m", "1M")))


def test_less_than_threshold_is_refused():
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="gte/gt"):
        convert(correlation(EVENT_COUNT.replace("gte: 3", "lt: 3")))


def test_temporal_correlation_is_refused():
    body = "    type: temporal\n    group-by:\n        - userIdentity.arn\n    timespan: 10m\n"
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="temporal"):
        convert(correlation(body))


def test_unknown_group_by_field_is_refused():
    with pytest.raises(SigmaTransformationError, match="group-by field"):
        convert(correlation(EVENT_COUNT.replace("userIdentity.arn", "user")))


# --- the pack ------------------------------------------------------------------------------------------


def test_every_pack_search_has_the_macro_shape(pack):
    for rule_ in pack.rules:
        (search,) = compile_rules(pack, TARGETS["splunk"], rules=[rule_])[rule_.id]
        assert scoped(search), search
        assert search.endswith(f"\n| `cloudtrail_detection_pack_{rule_.slug}_filter`")


def test_pack_correlation_search(pack):
    assert compile_rules(pack, TARGETS["splunk"])["d7e97f60-0265-437d-82c5-a8489994eda7"] == [
        '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName="DeleteUser")\n'
        "| sort 0 _time\n"
        "| streamstats time_window=10m count as event_count by userIdentity.arn\n"
        "| where event_count >= 3\n"
        "| `cloudtrail_detection_pack_aws_iam_user_deleted_mass_filter`"
    ]
