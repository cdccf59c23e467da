"""tests/rule_facts.py is what the per-target coverage tests derive their expectations from instead of tables of
rule names: here its reading of a rule is checked against the real backends on generated detections. A metric
filter pattern or an EventBridge pattern is written exactly when the rule needs none of the constructs that target
lacks, and each refusal names one it needs."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend
from sigma.backends.eventbridge import EventBridgeBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import cloudwatch_cloudtrail_pipeline, eventbridge_cloudtrail_pipeline

import rule_facts as facts
from cloudtrail_pack.pack import PackRule

FIELDS = ["eventSource", "eventName", "userIdentity.type", "requestParameters.userName", "errorCode"]
#: (modifiers, value): plain strings with and without letters, a regular expression, a field reference, a cased
#: value, a null.
VALUES = [
    ("", "DeleteUser"),
    ("", "'123456'"),
    ("|re", "'^Delete[A-Z]+$'"),
    ("|fieldref", "userIdentity.userName"),
    ("|cased", "Inactive"),
    ("", "null"),
]
ITEM = st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES))
#: What each target lacks, and how its refusal says it (tests/cloudwatch/test_metric_filter.py, tests/eventbridge/).
METRIC_FILTER = {facts.REGEX: "regular expressions", facts.FIELDREF: "field references", facts.FOLDED: "case-insensitively"}
EVENTBRIDGE = {facts.REGEX: "regular expressions", facts.FIELDREF: "field references"}


def rule(selection: list, negated: list) -> PackRule:
    lines = [f"        {f}{m}: {v}" for f, (m, v) in selection]
    text = "\n".join([
        "title: Generated", "id: 5f1b4d62-0000-4000-8000-0000000000aa", "status: test",
        "logsource:", "    product: aws", "    service: cloudtrail", "detection:", "    selection:",
        "        eventSource: iam.amazonaws.com", *lines,
    ] + (["    filter:", *[f"        {f}{m}: {v}" for f, (m, v) in negated]] if negated else []) + [
        "    condition: selection" + (" and not filter" if negated else ""),
    ])  # fmt: skip
    (parsed,) = SigmaCollection.from_yaml(text).rules
    return PackRule(parsed, PurePosixPath("sigma/generated.yml"), 0)


def outcome(backend, pack_rule: PackRule, fmt: str) -> str | None:
    """None when a pattern is written; the refusal's text otherwise."""
    try:
        backend.convert(SigmaCollection([pack_rule.rule]), fmt)
    except SigmaFeatureNotSupportedByBackendError as e:
        return str(e)
    return None


def agree(lacks: dict, refusal: str | None, pack_rule: PackRule) -> None:
    needs = facts.constructs(None, pack_rule) & lacks.keys()
    if refusal is None:
        assert not needs, f"a pattern was written though the rule needs {sorted(needs)}"
    else:
        assert needs, f"refused though the rule needs nothing the target lacks: {refusal}"
        assert any(lacks[n] in refusal for n in needs), (sorted(needs), refusal)


SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
#: A selection (with eventSource pinned), and a filter on other fields: one condition per field, so that only
#: the constructs decide (a field named twice is another limit of EventBridge's patterns).
SELECTIONS = st.lists(ITEM.filter(lambda i: i[0] != "eventSource"), max_size=2, unique_by=lambda i: i[0])
DETECTIONS = SELECTIONS.flatmap(lambda sel: st.tuples(st.just(sel), st.lists(
    ITEM.filter(lambda i: i[0] not in {"eventSource", *dict(sel)}), max_size=2, unique_by=lambda i: i[0])))


@SETTINGS
@given(DETECTIONS)
@example(([("eventName", ("", "DeleteUser"))], []))
@example(([("requestParameters.userName", ("", "'123456'"))], []))  # no letter: nothing to fold
@example(([("userIdentity.type", ("|cased", "Inactive"))], []))  # |cased: compared as written
@example(([("eventName", ("", "DeleteUser"))], [("requestParameters.userName", ("|fieldref", "userIdentity.userName"))]))
@example(([("requestParameters.userName", ("|re", "'^Delete[A-Z]+$'"))], []))
@example(([("errorCode", ("", "null"))], [("userIdentity.type", ("", "DeleteUser"))]))
def test_a_metric_filter_pattern_is_written_unless_the_rule_needs_what_patterns_lack(detection):
    selection, negated = detection
    pack_rule = rule(selection, negated)
    agree(METRIC_FILTER, outcome(CloudWatchLogsInsightsBackend(cloudwatch_cloudtrail_pipeline()), pack_rule, "metric_filter"), pack_rule)


@SETTINGS
@given(DETECTIONS)
@example(([("eventName", ("", "DeleteUser"))], [("requestParameters.userName", ("|fieldref", "userIdentity.userName"))]))
@example(([("requestParameters.userName", ("|re", "'^Delete[A-Z]+$'"))], []))
@example(([("userIdentity.type", ("", "DeleteUser"))], []))  # letters outside the canonical fields: equals-ignore-case
def test_an_eventbridge_pattern_is_written_unless_the_rule_needs_what_patterns_lack(detection):
    selection, negated = detection
    pack_rule = rule(selection, negated)
    agree(EVENTBRIDGE, outcome(EventBridgeBackend(eventbridge_cloudtrail_pipeline()), pack_rule, "default"), pack_rule)
