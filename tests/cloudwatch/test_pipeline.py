"""The cloudwatch_cloudtrail pipeline: canonical-case fields (declared once, in CANONICAL_CASE) and refusals of
fields Logs Insights cannot see."""

from __future__ import annotations

import pytest
from sigma.exceptions import SigmaTransformationError
from sigma.pipelines.cloudtrail import cloudwatch as cw
from sigma.types import SigmaCasedString, SigmaString

from .conftest import query


def test_canonical_case_fields_are_declared_in_one_place():
    assert cw.CANONICAL_CASE == {"eventSource": "lower", "eventName": "api-name"}


def test_pipeline_holds_the_shared_items_and_one_canonical_item_per_field():
    ids = [item.identifier for item in cw.cloudwatch_cloudtrail_pipeline().items]
    assert ids == [
        "cloudwatch_cloudtrail_cloudtrail_logsource_only",
        "cloudwatch_cloudtrail_reject_unknown_fields",
        "cloudwatch_cloudtrail_reject_container_fields",
        "cloudwatch_cloudtrail_reject_array_fields",
        "cloudwatch_cloudtrail_canonical_case_eventSource",
        "cloudwatch_cloudtrail_canonical_case_eventName",
    ]


def test_event_source_is_lower_cased_and_compared_exactly(convert):
    assert convert(
        """
        sel:
            eventSource: IAM.AmazonAWS.com
        condition: sel
        """
    ) == [query('eventSource = "iam.amazonaws.com"')]


def test_event_source_wildcards_stay_case_sensitive(convert):
    assert convert(
        """
        sel:
            eventSource|endswith: .AmazonAWS.com
        condition: sel
        """
    ) == [query('eventSource like /\\.amazonaws\\.com\\z/')]


def test_event_name_as_aws_spells_it_is_exact(convert):
    assert convert(
        """
        sel:
            eventName: AssumeRoleWithSAML
        condition: sel
        """
    ) == [query('eventName = "AssumeRoleWithSAML"')]


def test_event_name_spelled_otherwise_stays_case_insensitive(convert):
    """A value that is not written as an API name is not narrowed: Sigma's case-insensitive match is kept."""
    assert convert(
        """
        sel:
            eventName: deleteuser
        condition: sel
        """
    ) == [query('eventName like /(?i)\\Adeleteuser\\z/')]


def test_other_fields_are_case_insensitive(convert):
    assert convert(
        """
        sel:
            userIdentity.type: Root
        condition: sel
        """
    ) == [query('userIdentity.type like /(?i)\\ARoot\\z/')]


@pytest.mark.parametrize(
    "value, expected",
    [("DeleteUser", True), ("Delete*", True), ("*User", True), ("deleteUser", False), ("Delete_User", False), ("*", False)],
)
def test_api_name_spelling(value, expected):
    assert cw.is_api_name_spelling(SigmaString(value)) is expected


def test_cased_value_is_kept_as_written():
    value = SigmaCasedString("IAM.amazonaws.com")
    assert cw.canonical_value("lower", value) is value


def test_container_field_is_refused(convert):
    with pytest.raises(SigmaTransformationError, match="requestParameters hold a JSON object or array"):
        convert(
            """
            sel:
                requestParameters|contains: Suspended
            condition: sel
            """
        )


def test_unknown_field_is_refused_by_the_shared_item(convert):
    with pytest.raises(SigmaTransformationError, match="src_ip do not exist in CloudTrail records"):
        convert(
            """
            sel:
                src_ip: 192.0.2.1
            condition: sel
            """
        )


def test_other_log_sources_are_refused(backend):
    from sigma.collection import SigmaCollection

    rule = """
title: Windows
status: test
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image: x
    condition: sel
"""
    with pytest.raises(Exception, match="only rules with logsource product: aws, service: cloudtrail"):
        backend.convert(SigmaCollection.from_yaml(rule))
