"""Correlation rules: `stats ... by <group-by>, bin(<timespan>)` then a filter on the threshold."""

from __future__ import annotations

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

BASE = """
title: Delete user
id: 0b40a563-0000-4000-8000-000000000001
name: delete_user
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: iam.amazonaws.com
        eventName: DeleteUser
    condition: selection
---
title: Create key
id: 0b40a563-0000-4000-8000-000000000002
name: create_key
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventName: CreateAccessKey
    condition: selection
"""


def correlation(body: str) -> str:
    return (
        BASE
        + """---
title: Correlation
id: 0b40a563-0000-4000-8000-0000000000ff
status: test
correlation:
"""
        + "\n".join("    " + line for line in body.strip().splitlines())
        + "\n"
    )


def convert_last(backend, text: str, fmt: str = "default"):
    collection = SigmaCollection.from_yaml(text)
    out = backend.convert(collection, fmt)
    return out[-1]


def test_event_count(backend):
    assert convert_last(
        backend,
        correlation(
            """
type: event_count
rules: [delete_user]
group-by: [userIdentity.arn]
timespan: 10m
condition:
    gte: 3
"""
        ),
    ) == (
        'filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        "| stats count(*) as eventCount by userIdentity.arn, bin(10m)\n"
        "| filter eventCount >= 3"
    )


def test_event_count_without_group_by(backend):
    assert convert_last(
        backend,
        correlation(
            """
type: event_count
rules: [delete_user]
timespan: 1h
condition:
    gt: 10
"""
        ),
    ) == (
        'filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        "| stats count(*) as eventCount by bin(1h)\n"
        "| filter eventCount > 10"
    )


def test_event_count_over_several_rules(backend):
    assert convert_last(
        backend,
        correlation(
            """
type: event_count
rules: [delete_user, create_key]
group-by: [userIdentity.arn, recipientAccountId]
timespan: 5m
condition:
    eq: 2
"""
        ),
    ) == (
        'filter (eventSource = "iam.amazonaws.com" and eventName = "DeleteUser") or (eventName = "CreateAccessKey")\n'
        "| stats count(*) as eventCount by userIdentity.arn, recipientAccountId, bin(5m)\n"
        "| filter eventCount = 2"
    )


def test_value_count(backend):
    assert convert_last(
        backend,
        correlation(
            """
type: value_count
rules: [delete_user]
group-by: [userIdentity.arn]
timespan: 1d
condition:
    field: requestParameters.userName
    gte: 5
"""
        ),
    ) == (
        'filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        "| stats count_distinct(requestParameters.userName) as valueCount by userIdentity.arn, bin(1d)\n"
        "| filter valueCount >= 5"
    )


def test_month_timespan_uses_the_bin_unit_mo(backend):
    assert "bin(1mo)" in convert_last(
        backend,
        correlation(
            """
type: event_count
rules: [delete_user]
timespan: 1M
condition:
    gte: 3
"""
        ),
    )


@pytest.mark.parametrize("kind", ["temporal", "temporal_ordered"])
def test_temporal_is_refused(backend, kind):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=f"^{kind} correlation: .*cannot\\s+tag events with the rule"):
        convert_last(
            backend,
            correlation(
                f"""
type: {kind}
rules: [delete_user, create_key]
group-by: [userIdentity.arn]
timespan: 10m
"""
            ),
        )


def test_aliases_are_refused(backend):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="aliases"):
        convert_last(
            backend,
            correlation(
                """
type: event_count
rules: [delete_user, create_key]
group-by: [principal]
aliases:
    principal:
        delete_user: userIdentity.arn
        create_key: userIdentity.arn
timespan: 10m
condition:
    gte: 2
"""
            ),
        )


def test_group_by_must_be_a_cloudtrail_field(backend):
    with pytest.raises(Exception, match="src_ip do not exist in CloudTrail records"):
        convert_last(
            backend,
            correlation(
                """
type: event_count
rules: [delete_user]
group-by: [src_ip]
timespan: 10m
condition:
    gte: 3
"""
            ),
        )


def test_correlation_has_no_metric_filter(backend):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="correlation rules count events over time"):
        convert_last(
            backend,
            correlation(
                """
type: event_count
rules: [delete_user]
timespan: 10m
condition:
    gte: 3
"""
            ),
            "metric_filter",
        )


def test_referenced_rule_that_is_also_generated_is_output_finished(backend):
    out = SigmaCollection.from_yaml(
        correlation(
            """
type: event_count
rules: [delete_user]
timespan: 10m
generate: true
condition:
    gte: 3
"""
        )
    )
    queries = backend.convert(out)
    assert queries[0] == (
        'fields @timestamp, @message\n| filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        "| sort @timestamp desc"
    )
    assert queries[-1].startswith('filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n| stats')
