"""Shared helpers for the CloudWatch Logs Insights backend tests: backends with and without the CloudTrail
pipeline, and a one-line way to build a rule around a detection."""

from __future__ import annotations

import textwrap

import pytest
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.cloudtrail import cloudwatch_cloudtrail_pipeline


def rule_yaml(detection: str, fields: list[str] | None = None, title: str = "Test") -> str:
    """A CloudTrail rule around `detection` (YAML of the detection block, without the `detection:` key)."""
    text = f"""
title: {title}
id: 5f1b4d62-0000-4000-8000-000000000001
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
"""
    if fields:
        text += "fields:\n" + "".join(f"    - '{f}'\n" for f in fields)
    return text


def query(expr: str, fields: str = "@timestamp, @message") -> str:
    """The default-format query the backend writes around a filter expression."""
    return f"fields {fields}\n| filter {expr}\n| sort @timestamp desc"


@pytest.fixture
def backend() -> CloudWatchLogsInsightsBackend:
    """The backend as sigma-cli runs it for the pack: -t cloudwatch -p cloudwatch_cloudtrail."""
    return CloudWatchLogsInsightsBackend(cloudwatch_cloudtrail_pipeline())


@pytest.fixture
def bare_backend() -> CloudWatchLogsInsightsBackend:
    """The backend without a pipeline: every field is case-insensitive and any field name is accepted."""
    return CloudWatchLogsInsightsBackend()


@pytest.fixture
def convert(backend):
    def run(detection: str, fmt: str = "default", fields: list[str] | None = None, title: str = "Test"):
        return backend.convert(SigmaCollection.from_yaml(rule_yaml(detection, fields, title)), fmt)

    return run


@pytest.fixture
def convert_bare(bare_backend):
    def run(detection: str, fmt: str = "default", fields: list[str] | None = None):
        return bare_backend.convert(SigmaCollection.from_yaml(rule_yaml(detection, fields)), fmt)

    return run
