"""Shared helpers for the CloudWatch target's tests: backends with and without the CloudTrail pipeline, a
one-line way to build a rule around a detection, and the detections the artifact writers write (stand-ins
built from each rule, and the backend's own output) with the folder they write."""

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


#: Text the backend never writes, in every stand-in query and pattern: the writers must carry it through YAML,
#: JSON and CloudFormation unchanged (a quote, a backslash, CloudFormation's `${`, Terraform's `%{`, YAML's
#: `: ` and ` #`, a tab, a non-ASCII letter).
HOSTILE = '"\\ ${Stack} %{if} a: b #c\té'


def stand_in(rule) -> "Detection":
    """A detection for `rule` built from the rule alone, not by the backend: the writers' tests run on these
    too, so that a writer is tested apart from the compiler. Base rules get a filter pattern (and so two
    alarms), correlations the query only, as the backend gives them."""
    from cloudtrail_pack.artifacts.cloudwatch import Detection

    escaped = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    query = (
        f"fields @timestamp, userIdentity.arn\n"
        f'| filter eventName = "{rule.slug}" and userAgent != "{escaped}"'
    )
    if rule.is_correlation:
        return Detection(rule, query + f"\n| stats count(*) as event_count by userIdentity.arn, bin({rule.rule.timespan.spec})", None,
                         "metric filter pattern: correlation rules count events over time (stand-in)")
    pattern = f'{{ ($.eventName = "{rule.slug}") && ($.userAgent != "{escaped}") }}'
    return Detection(rule, query, pattern, "")


def cloudwatch_formats() -> set[str]:
    """Output formats of the installed CloudWatch backend (empty: not installed yet)."""
    from cloudtrail_pack.artifacts.cloudwatch import TARGET, backend_formats
    from cloudtrail_pack.pack import PackError
    from cloudtrail_pack.registry import TARGETS

    try:
        return backend_formats(TARGETS[TARGET])
    except (ImportError, PackError):  # not installed, or still being written (its own tests report that)
        return set()


def backend_ready() -> tuple[bool, str]:
    from cloudtrail_pack.artifacts.cloudwatch import METRIC_FILTER_FORMAT, QUERY_FORMAT

    formats = cloudwatch_formats()
    if not formats:
        return False, "the CloudWatch backend (sigma.backends.cloudwatch) is not installed or does not import yet"
    missing = {QUERY_FORMAT, METRIC_FILTER_FORMAT} - formats
    if missing:
        return False, f"the CloudWatch backend has no output format(s) {sorted(missing)} (it offers {sorted(formats)})"
    return True, ""


@pytest.fixture(scope="session")
def stand_in_detections(pack):
    return [stand_in(rule) for rule in pack.rules if not rule.step_only]  # the writer deploys no correlation step


@pytest.fixture(scope="session")
def real_detections(pack):
    ready, why = backend_ready()
    if not ready:
        pytest.fail(why)  # the backend is part of this project: its absence is a failure
    from release_helpers import release_for

    from cloudtrail_pack.artifacts import cloudwatch

    return cloudwatch.collect(release_for(pack, cloudwatch))


@pytest.fixture(scope="session", params=["stand-in", "backend"])
def detections(request, pack):
    """Both sources: stand-ins built from the rules alone (the writers apart from the backend), and the
    backend's real output."""
    if request.param == "stand-in":
        return request.getfixturevalue("stand_in_detections")
    return request.getfixturevalue("real_detections")


@pytest.fixture(scope="session")
def cloudwatch_dir(tmp_path_factory, detections):
    from cloudtrail_pack.artifacts.cloudwatch import write_detections
    from cloudtrail_pack.pack import pack_version

    out = tmp_path_factory.mktemp("cloudwatch")
    write_detections(detections, out, pack_version())
    return out
