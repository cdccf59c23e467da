"""Shared helpers for the EventBridge target's tests: the backend as sigma-cli runs it, a rule around a detection,
CloudTrail records wrapped as EventBridge delivers them, and moto's EventBridge pattern matcher (an engine we did
not write) to run the shipped patterns."""

from __future__ import annotations

import json
import textwrap
from functools import cache

import pytest
from moto.events.models import EventPattern
from sigma.backends.eventbridge import EventBridgeBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.cloudtrail import eventbridge_cloudtrail_pipeline

#: detail-type per CloudTrail eventType, as EventBridge delivers the record (eb-service-event-cloudtrail.html; the
#: sign-in spelling is that of real events, the patterns never depend on it: they match the shared suffix).
DETAIL_TYPES = {
    "AwsApiCall": "AWS API Call via CloudTrail",
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsConsoleAction": "AWS Console Action via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsCloudTrailInsight": "AWS Insight via CloudTrail",
}


def rule_yaml(detection: str, title: str = "Test") -> str:
    return f"""
title: {title}
id: 5f1b4d62-0000-4000-8000-000000000002
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
"""


#: CloudTrail `eventSource` -> the envelope's `source`, written out here from AWS's EventBridge event reference
#: (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-<page>.html, "To match events from this service
#: delivered by AWS CloudTrail ...: source: aws.<x>, eventSource: <host>"; the same pairs are in the index,
#: https://docs.aws.amazon.com/eventbridge/latest/ref/events.html, columns "Event source" and "CloudTrail event
#: source"). Kept apart from the pack's `envelope.SOURCES` on purpose: the wrapped fixtures must fail when the pack
#: names a wrong source, so they cannot take their source from it.
DOCUMENTED_SOURCES = {
    "iam.amazonaws.com": "aws.iam",  # events-ref-iam.html
    "organizations.amazonaws.com": "aws.organizations",  # events-ref-organizations.html
    "identitystore.amazonaws.com": "aws.identitystore",  # events-ref-identitystore.html
    "sso-oauth.amazonaws.com": "aws.sso-oauth",  # events-ref-sso-oauth.html (IAM Identity Center OIDC)
    "sts.amazonaws.com": "aws.sts",  # events-ref-sts.html
    "cloudtrail.amazonaws.com": "aws.cloudtrail",  # events-ref-cloudtrail.html
    "account.amazonaws.com": "aws.account",  # events-ref-account.html
    "s3.amazonaws.com": "aws.s3",  # events-ref-s3.html
    "elasticache.amazonaws.com": "aws.elasticache",  # events-ref-elasticache.html
    "memorydb.amazonaws.com": "aws.memorydb",  # events-ref-memorydb.html
}


def source_of(event_source: str) -> str:
    """The envelope's `source` for a record: the documented pair; for the few services of the fixtures' look-alike
    records not looked up above (Transfer Family, QuickSight, Chime) the `aws.<service>` form every listed pair
    has: only a pattern that leaves the source open (`{"prefix": "aws."}`) can match those records anyway."""
    return DOCUMENTED_SOURCES.get(event_source, "aws." + event_source.split(".")[0])


def wrap(record: dict) -> dict:
    """A CloudTrail record as the event EventBridge delivers: the record is `detail`; `detail-type` by its
    eventType (above); `account` and `region` those of the trail that recorded it, `recipientAccountId` and
    `awsRegion` (EventBridge receives a CloudTrail event on the default bus of the account and Region where it is
    recorded: eb-service-event-cloudtrail.html; IAM's and Organizations' events are recorded in us-east-1,
    CloudTrail User Guide "Global service events", so their records say `awsRegion: us-east-1`)."""
    return {
        "version": "0",
        "id": "00000000-0000-4000-8000-" + str(record.get("eventID", ""))[-12:].rjust(12, "0"),
        "detail-type": DETAIL_TYPES.get(record.get("eventType"), DETAIL_TYPES["AwsApiCall"]),
        "source": source_of(record["eventSource"]) if isinstance(record.get("eventSource"), str) else "aws.unknown",
        "account": str(record.get("recipientAccountId", "111122223333")),
        "time": str(record["eventTime"]),
        "region": str(record.get("awsRegion", "us-east-1")),
        "resources": [],
        "detail": record,
    }


@cache
def _loaded(pattern_text: str) -> EventPattern:
    return EventPattern.load(pattern_text)


def moto_matches(pattern_text: str, event: dict) -> bool:
    """moto's EventBridge matcher (moto.events.models.EventPattern: PutRule loads the pattern, PutEvents matches
    each event with it)."""
    return _loaded(pattern_text).matches_event(event)


@pytest.fixture
def backend() -> EventBridgeBackend:
    return EventBridgeBackend(eventbridge_cloudtrail_pipeline())


@pytest.fixture
def convert(backend):
    """The pattern of a rule around `detection`, parsed back into JSON (the text is what PutRule receives)."""

    def run(detection: str) -> dict:
        (text,) = backend.convert(SigmaCollection.from_yaml(rule_yaml(detection)))
        return json.loads(text)

    return run


@pytest.fixture
def detail(convert):
    """Only the `detail` of the pattern."""

    def run(detection: str) -> dict:
        return convert(detection)["detail"]

    return run
