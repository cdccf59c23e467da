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
from sigma.backends.eventbridge.envelope import SOURCES
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


def source_of(event_source: str) -> str:
    """The envelope's `source` for a record: AWS's stated pairs, else aws.<host's first label>."""
    return SOURCES.get(event_source, "aws." + event_source.split(".")[0])


def wrap(record: dict) -> dict:
    """A CloudTrail record as the event EventBridge delivers: the record is `detail`."""
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
