"""CloudWatch release artifacts: Logs Insights queries, saved query definitions, and the metric filter ->
alarm -> SNS path, as a CloudFormation template and a small Terraform module.

Everything comes from our CloudWatch Logs Insights backend, compiled once by the release (`FORMATS`): the
`default` format gives each rule's Logs Insights query, the metric filter format its CloudWatch Logs
filter pattern. A rule the filter pattern language cannot express (the backend raises
SigmaFeatureNotSupportedByBackendError, e.g. for correlations) keeps its query definition and is listed
with the reason in the template's Metadata.

Files written into `out_dir` (the release passes dist/cloudwatch/):

    queries/<rule>.logsinsights          readable query per rule, `#` comment header first
    query-definitions.json               list of PutQueryDefinition requests (one per rule)
    query-definitions/<rule>.json        the same, one file per rule: `--cli-input-json file://...`
    cloudformation/cloudtrail-detections.cfn.yaml
    terraform/{versions.tf,main.tf,variables.tf,outputs.tf,detections.json}

All output is deterministic: no timestamps, sorted or fixed key order, `\\n` line endings. AWS's limits come from
`sigma.backends.cloudwatch.limits` (stated once there) and query definitions from the backend's own builder
(`sigma.backends.cloudwatch.query_definition`), so the files and the backend's `query_definition` format agree.

The alarm path, as CloudWatch runs it (docs/cloudwatch-deploy.md explains it for the analyst):

* CloudTrail gives each event it sends to CloudWatch Logs the time it delivered it as the log event's timestamp
  ("The Time (UTC) column in the CloudWatch console shows when the event was delivered to your log group. To see
  the actual time that the event was logged by CloudTrail, see the eventTime field", CloudTrail User Guide,
  "Sending events to CloudWatch Logs"), typically "within an average of about 5 minutes of an API call. This time
  is not guaranteed." The metric filter's datapoint carries the log event's timestamp.
* The alarm is evaluated every minute over its last `EvaluationPeriods` periods, a window that slides by one minute
  each time (CloudWatch User Guide, "Limits": "an alarm with a period of five minutes is evaluated every minute,
  using five-minute windows that shift by one minute each time"). `EvaluationPeriods` alone means N *consecutive*
  breaching periods; with `DatapointsToAlarm` it is an "M out of N" alarm ("Evaluating an alarm";
  PutMetricAlarm). The template sets `DatapointsToAlarm` explicitly, default 1 out of 6 periods of 300 seconds:
  one matching event anywhere in the last 30 minutes sets the alarm off, so an event that reaches the log group
  up to 15 minutes late (and is stamped with its event time, should CloudTrail ever do so) is still inside the
  window. `tests/execution/test_cloudwatch_execution.py` replays the fixtures through this model.
* Missing data (no matching event: the filter has no default value, so nothing is published) is `notBreaching`;
  SNS is notified when the alarm changes to ALARM, never again while it stays there ("Alarms invoke actions for
  sustained state changes only", "Using Amazon CloudWatch alarms").
* The outcome leads: each rule with a filter pattern gets two metric filters and two alarms, `<Rule>Succeeded`
  (the pattern and no errorCode) and `<Rule>Failed` (the pattern and an errorCode: denied or failed, a probe that
  changed nothing), which together match exactly the rule's events (`metric_filter.with_outcome`). The
  notification's alarm name and description say which; an alarm notifies only on its transition to ALARM, so
  with one alarm for both a success arriving while failures hold it in ALARM would send nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from sigma.backends.cloudwatch.limits import (
    ALARM_DESCRIPTION_MAX_LENGTH,
    ALARM_EVALUATION_MAX_SECONDS,
    ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS,
    ALARM_SHORT_PERIOD_SECONDS,
    FILTER_PATTERN_MAX_LENGTH,
    LOG_GROUP_NAME_MAX_LENGTH,
    LOG_GROUP_NAME_PATTERN,
    QUERY_STRING_MAX_LENGTH,
    TEMPLATE_DESCRIPTION_MAX_LENGTH,
    max_evaluation_periods,
    max_evaluation_seconds,
)
from sigma.backends.cloudwatch.metric_filter import with_outcome
from sigma.backends.cloudwatch.query_definition import query_definition
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from ..attack import attack_refs
from ..compilation import Refusal
from ..pack import PACK_NAME, Pack, PackError, PackRule, shown
from ..release.context import Release, as_release

TARGET = "cloudwatch"
QUERY_FORMAT = "default"
METRIC_FILTER_FORMAT = "metric_filter"

QUERY_NAME_PREFIX = "CloudTrail Detections/"
# Written into logGroupNames of the query definition requests; it matches the API's log group name pattern
# so the requests validate, and is meant to be replaced (see the README) before they are sent.
LOG_GROUP_PLACEHOLDER = "REPLACE_WITH_CLOUDTRAIL_LOG_GROUP"
TEMPLATE_FILE = "cloudformation/cloudtrail-detections.cfn.yaml"

PARAMETER_DEFAULTS = {
    "MetricNamespace": "CloudTrailDetectionPack",
    "AlarmThreshold": 1,
    "AlarmPeriodSeconds": 300,
    "EvaluationPeriods": 6,
    "DatapointsToAlarm": 1,
}
#: The choices the template offers. CloudFormation Rules cannot multiply, so the template bounds Period x
#: EvaluationPeriods with AllowedValues and per-value assertions (`template_rules`); Terraform checks the API's
#: bounds exactly.
ALARM_PERIODS = [60, 300, 600, 900, 1800, 3600, 21600, 86400]
EVALUATION_PERIODS = list(range(1, 31))
DATAPOINTS_TO_ALARM = list(range(1, 11))

PARAMETER_DESCRIPTIONS = {
    "LogGroupName": "CloudWatch Logs log group that the CloudTrail trail delivers events to (in this stack's Region; "
    "IAM and Organizations events reach it only from a multi-Region trail or a trail in us-east-1)",
    "NotificationEmail": "Email address subscribed to the alarm topic (confirm the subscription mail); empty for none",
    "AlarmThreshold": "Matching events (Sum) within one period that make the period breaching. Default 1: every "
    "matching event counts",
    "AlarmPeriodSeconds": "Length of one period, in seconds. The alarm window is AlarmPeriodSeconds x "
    f"EvaluationPeriods; PutMetricAlarm allows at most {ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS} seconds for "
    f"periods under {ALARM_SHORT_PERIOD_SECONDS} and {ALARM_EVALUATION_MAX_SECONDS} otherwise (checked by the "
    "template's Rules)",
    "EvaluationPeriods": "N of an M-out-of-N alarm: every minute the alarm looks at the last N periods. Default 6 "
    "periods of 300 seconds = 30 minutes, so that an event CloudTrail delivers up to 15 minutes late still falls "
    "inside the window",
    "DatapointsToAlarm": "M of an M-out-of-N alarm: how many of the last EvaluationPeriods periods must be breaching "
    "(at most EvaluationPeriods). Default 1: one matching event anywhere in the window sets the alarm off; without "
    "it CloudWatch would require EvaluationPeriods consecutive breaching periods",
    "MetricNamespace": "CloudWatch namespace of the per-rule metrics",
}

_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")

#: The alarms of a rule with a metric filter, one per outcome: (logical name suffix, what the notification says,
#: whether it counts failed calls).
OUTCOMES = (
    ("Succeeded", "outcome: succeeded", False),
    ("Failed", "outcome: denied or failed (errorCode)", True),
)


def sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace normalised (a YAML block description keeps its line breaks)."""
    words = " ".join(text.split())
    out, start = [], 0
    for match in re.finditer(r"[.!?](?=\s|$)", words):
        candidate = words[start : match.end()].strip()
        if candidate.endswith(_ABBREVIATIONS):
            continue
        out.append(candidate)
        start = match.end()
    if words[start:].strip():
        out.append(words[start:].strip())
    return out


def whole_sentences(text: str, limit: int) -> str:
    """The leading sentences of `text` that fit in `limit` characters together: never part of a sentence."""
    out = ""
    for sentence in sentences(text):
        candidate = f"{out} {sentence}" if out else sentence
        if len(candidate) > limit:
            break
        out = candidate
    return out


@dataclass(frozen=True)
class Detection:
    """One rule as CloudWatch runs it: its Logs Insights query and, where it fits, its filter pattern."""

    rule: PackRule
    query: str
    filter_pattern: str | None = None
    no_filter_reason: str = ""  # why there is no metric filter (filter_pattern is None)

    @property
    def name(self) -> str:
        return QUERY_NAME_PREFIX + self.rule.title

    @property
    def description(self) -> str:
        """The rule's whole description on one line (artifacts shorten it by whole sentences, never mid-sentence)."""
        return " ".join(sentences(self.rule.rule.description or ""))

    @property
    def attack(self) -> str:
        return ", ".join(ref.label() for ref in attack_refs(self.rule))

    def outcome_patterns(self) -> list[tuple[str, str, str]]:
        """(suffix, what it says, filter pattern) of each alarm: none without a filter pattern."""
        if self.filter_pattern is None:
            return []
        return [(suffix, says, with_outcome(self.filter_pattern, failed)) for suffix, says, failed in OUTCOMES]


# ---------------------------------------------------------------------------------------------------------
# Compiling


def backend_formats() -> set[str]:
    """The output formats the installed CloudWatch backend declares (its class's `formats`)."""
    from ..targets import TARGETS, plugins

    backend = plugins().backends.get(TARGETS[TARGET].backend)
    if backend is None:
        raise PackError(TARGET, "the CloudWatch Logs Insights backend is not installed; run `make dist` to install the project")
    return set(getattr(backend, "formats", {}) or {})


#: What the release compiles for this writer.
NEEDS = ((TARGET, QUERY_FORMAT), (TARGET, METRIC_FILTER_FORMAT))


#: The marked place for local tuning in every shipped query: a commented-out filter an analyst uncomments and
#: edits, in the form AWS's own example of comments shows ("When the following query is run, the second line
#: is ignored": `# | filter accountId not like ...`; CloudWatch Logs User Guide, "Use comments").
TUNING_LINES = (
    "# Local tuning: uncomment and edit the next line to leave out a known principal (one line per exclusion)",
    '# | filter userIdentity.arn != "arn:aws:iam::111122223333:role/ExampleOffboardingAutomation"',
)


def with_tuning_lines(query: str) -> str:
    """The query with TUNING_LINES right after its first `filter` command (the rule's condition), so that
    an exclusion applies before any `stats` or `sort`."""
    lines = query.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip("| ").startswith("filter "):
            return "\n".join([*lines[: index + 1], *TUNING_LINES, *lines[index + 1 :]])
    return "\n".join([*lines, *TUNING_LINES])


def collect(source: Release | Pack) -> list[Detection]:
    """Every rule the CloudWatch backend compiles: its query, and its filter pattern where it fits. A rule the
    backend refuses is not deployed to CloudWatch (the build table gives the reason)."""
    missing = {QUERY_FORMAT, METRIC_FILTER_FORMAT} - backend_formats()
    if missing:
        raise PackError(TARGET, f"the CloudWatch backend has no output format {sorted(missing)}; it offers {sorted(backend_formats())}")
    release = as_release(source, NEEDS)
    detections = []
    for rule in release.pack.rules:
        queries = release.queries(rule, TARGET, QUERY_FORMAT)
        if queries is None:
            continue
        pattern, reason = metric_filter_pattern(release, rule)
        query = with_tuning_lines(_single(rule, list(queries), "Logs Insights query"))
        detections.append(Detection(rule, query, pattern, reason))
    check(detections, release.version)
    return detections


def metric_filter_pattern(release: Release, rule: PackRule) -> tuple[str | None, str]:
    """(pattern, "") or (None, reason): a rule the filter pattern language cannot express is not an error."""
    result = release.result(rule, TARGET, METRIC_FILTER_FORMAT)
    if isinstance(result, Refusal):
        message = result.reason
        return None, message if message.lower().startswith("metric filter") else f"metric filter pattern: {message}"
    compiled = result.queries
    if len(compiled) != 1:
        return None, f"no metric filter: the rule compiles to {len(compiled)} filter patterns, a metric filter takes one"
    pattern = compiled[0]
    if not isinstance(pattern, str):
        raise PackError(shown(rule.source), f"{TARGET} {METRIC_FILTER_FORMAT}: expected a pattern string, got {type(pattern).__name__}")
    if len(pattern) > FILTER_PATTERN_MAX_LENGTH:
        return None, f"no metric filter: the pattern has {len(pattern)} characters, over the limit of {FILTER_PATTERN_MAX_LENGTH}"
    return pattern, ""


def _single(rule: PackRule, items: list, what: str) -> str:
    if len(items) != 1 or not isinstance(items[0], str):
        raise PackError(shown(rule.source), f"CloudWatch: expected one {what}, got {len(items)}")
    return items[0]


def check(detections: list[Detection], version: str) -> None:
    """The limits the CloudWatch Logs API puts on what we deploy, on the exact texts sent: PackError naming the rule.

    The deploy guide sends each `queries/<rule>.logsinsights` file whole (`start-query --query-string file://...`),
    so the file text, comment header included, must fit StartQuery's queryString limit; so must each
    PutQueryDefinition request (the shared builder checks it)."""
    for d in detections:
        if not d.query.strip():
            raise PackError(shown(d.rule.source), "CloudWatch: empty Logs Insights query")
        query_definition_request(d)  # name, queryString and log group limits
        text = query_file_text(d, version)
        if len(text) > QUERY_STRING_MAX_LENGTH:
            raise PackError(
                shown(d.rule.source),
                f"CloudWatch: queries/{d.rule.slug}.logsinsights is {len(text)} characters; start-query accepts a "
                f"queryString of at most {QUERY_STRING_MAX_LENGTH}",
            )
        if d.filter_pattern is not None and len(d.filter_pattern) > FILTER_PATTERN_MAX_LENGTH:
            raise PackError(shown(d.rule.source), f"CloudWatch: filter pattern is over {FILTER_PATTERN_MAX_LENGTH} characters")
        try:
            d.outcome_patterns()
        except SigmaFeatureNotSupportedByBackendError as e:
            raise PackError(shown(d.rule.source), f"CloudWatch: {e.args[0]}") from None
        if d.filter_pattern is None and not d.no_filter_reason:
            raise PackError(shown(d.rule.source), "CloudWatch: a rule without a metric filter needs the reason")


# ---------------------------------------------------------------------------------------------------------
# Names


def _camel(text: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Rule"
    return name if name[0].isalpha() else "Rule" + name


def logical_names(rules: list[PackRule]) -> dict[str, str]:
    """{rule id: CamelCase name from the rule's name (else file stem)}; stable across builds.

    The name prefixes the CloudFormation logical IDs, names the metric and keys the Terraform map. Should
    two rules map to the same name, each gets the first eight hex digits of its id appended."""
    base = {r.id: _camel(r.slug) for r in rules}
    counts = Counter(base.values())
    return {rid: name if counts[name] == 1 else name + rid.replace("-", "")[:8].upper() for rid, name in base.items()}


# ---------------------------------------------------------------------------------------------------------
# Queries and query definitions


def query_file_text(d: Detection, version: str) -> str:
    """The query with a `#` comment header; the description as whole sentences that keep the file within
    StartQuery's queryString limit (the file is sent whole)."""

    def text(description: str) -> str:
        header = [
            d.rule.title,
            f"id: {d.rule.id}",
            f"level: {d.rule.level}",
            f"description: {description}",
            f"ATT&CK: {d.attack or 'none tagged'}",
            f"rule: {d.rule.path.as_posix()}",
            f"pack: {PACK_NAME} {version}",
        ]
        if d.filter_pattern is not None:
            header.append(f"metric filter pattern: {d.filter_pattern}")
        else:
            header.append(f"metric filter: none ({d.no_filter_reason})")
        lines = ["# " + " ".join(line.split()) for line in header]
        return "\n".join(lines) + "\n\n" + d.query.rstrip("\n") + "\n"

    budget = QUERY_STRING_MAX_LENGTH - len(text(""))
    return text(whole_sentences(d.description, max(budget, 0)))


def query_definition_request(d: Detection, log_group_names: list[str] | None = None) -> dict:
    """The PutQueryDefinition request (`--cli-input-json`), from the backend's builder: the same request as
    `sigma convert -f query_definition` writes. PackError naming the rule if the API would refuse it."""
    try:
        return query_definition(d.name, d.query, [LOG_GROUP_PLACEHOLDER] if log_group_names is None else log_group_names)
    except SigmaFeatureNotSupportedByBackendError as e:
        raise PackError(shown(d.rule.source), f"CloudWatch: {e.args[0]}") from None


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# CloudFormation


def _alarm_description(d: Detection, says: str) -> str:
    """What the SNS notification shows about the rule: title, the outcome, level, id, the saved query to run, and as
    many whole sentences of the description as PutMetricAlarm's AlarmDescription limit leaves room for."""
    text = f"{d.rule.title} | {says} | level: {d.rule.level} | Sigma rule id: {d.rule.id} | saved query: {d.name}"
    if len(text) > ALARM_DESCRIPTION_MAX_LENGTH:
        raise PackError(shown(d.rule.source), f"CloudWatch: the alarm description is over {ALARM_DESCRIPTION_MAX_LENGTH} characters")
    description = whole_sentences(d.description, ALARM_DESCRIPTION_MAX_LENGTH - len(text) - len(" | "))
    return f"{text} | {description}" if description else text


def _no_filter_hint(d: Detection, detections: list[Detection], names: dict[str, str]) -> str:
    """For an event_count correlation over rules that have metrics: how to approximate it with an alarm."""
    rule = d.rule.rule
    if not d.rule.is_correlation or getattr(rule.type, "name", "").lower() != "event_count":
        return ""
    by_id = {x.rule.id: x for x in detections}
    referenced = [by_id.get(str(ref.rule.id)) for ref in rule.rules if getattr(ref, "rule", None) is not None]
    if not referenced or any(x is None or x.filter_pattern is None for x in referenced):
        return ""
    condition = rule.condition
    count = getattr(condition, "count", None)
    timespan = getattr(getattr(rule, "timespan", None), "seconds", None)
    if count is None or timespan is None:
        return ""
    metrics = " + ".join(names[x.rule.id] + suffix for x in referenced for suffix, _, _ in OUTCOMES)
    return (
        f"Approximation: an alarm on the metric math sum {metrics} with threshold {count} over one period of "
        f"{timespan} seconds (EvaluationPeriods 1, DatapointsToAlarm 1), counting by delivery time and without the "
        "rule's group-by; the saved query is exact."
    )


class FlowList(list):
    """A list written on one line in the template (the long value lists of the Rules)."""


def _strings(values) -> FlowList:
    return FlowList(str(v) for v in values)


def _forbid(param: str, value: int, other: str, forbidden: list[int], description: str) -> dict:
    """A Rules assertion: `param` = `value` together with `other` in `forbidden` is refused."""
    return {
        "Assert": {
            "Fn::Not": [
                {
                    "Fn::And": [
                        {"Fn::Equals": FlowList([{"Ref": param}, str(value)])},
                        {"Fn::Contains": FlowList([_strings(forbidden), {"Ref": other}])},
                    ]
                }
            ]
        },
        "AssertDescription": description,
    }


def template_rules() -> dict:
    """The template's Rules: the PutMetricAlarm bounds that AllowedValues alone cannot express.

    CloudFormation Rules compare parameter values as strings and cannot multiply, so each bound is written out over
    the template's own choices: for a period where some EvaluationPeriods choices exceed the API's total evaluation
    time (`limits.max_evaluation_periods`), those choices are forbidden; and a DatapointsToAlarm value is forbidden
    with every EvaluationPeriods below it (M <= N)."""
    window = []
    for period in ALARM_PERIODS:
        most = max_evaluation_periods(period)
        over = [n for n in EVALUATION_PERIODS if n > most]
        if over:
            window.append(
                _forbid(
                    "AlarmPeriodSeconds", period, "EvaluationPeriods", over,
                    f"With AlarmPeriodSeconds {period}, EvaluationPeriods can be at most {most}: PutMetricAlarm allows "
                    f"at most {max_evaluation_seconds(period)} seconds of Period x EvaluationPeriods",
                )
            )
    m_of_n = [
        _forbid(
            "DatapointsToAlarm", m, "EvaluationPeriods", [n for n in EVALUATION_PERIODS if n < m],
            f"DatapointsToAlarm {m} needs EvaluationPeriods of at least {m} (M out of N: M <= N)",
        )
        for m in DATAPOINTS_TO_ALARM
        if any(n < m for n in EVALUATION_PERIODS)
    ]
    rules = {}
    if window:
        rules["AlarmWindowWithinPutMetricAlarmLimit"] = {"Assertions": window}
    if m_of_n:
        rules["DatapointsToAlarmAtMostEvaluationPeriods"] = {"Assertions": m_of_n}
    return rules


def template(detections: list[Detection], version: str) -> dict:
    names = logical_names([d.rule for d in detections])
    with_filter = [d for d in detections if d.filter_pattern is not None]
    resources: dict = {
        "AlertTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": "CloudTrail detections"},
        },
        "AlertTopicEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotificationEmail",
            "Properties": {"TopicArn": {"Ref": "AlertTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}},
        },
    }
    rules_meta, query_only = [], []
    for d in detections:
        name = names[d.rule.id]
        request = query_definition_request(d)
        resources[f"{name}QueryDefinition"] = {
            "Type": "AWS::Logs::QueryDefinition",
            "Properties": {
                "Name": request["name"],
                "QueryString": request["queryString"],
                "LogGroupNames": [{"Ref": "LogGroupName"}],
                "QueryLanguage": request["queryLanguage"],
            },
        }
        meta = {"Id": d.rule.id, "Title": d.rule.title, "Level": d.rule.level, "QueryDefinition": f"{name}QueryDefinition"}
        if d.filter_pattern is None:
            entry = {"Id": d.rule.id, "Title": d.rule.title, "Reason": d.no_filter_reason}
            hint = _no_filter_hint(d, detections, names)
            if hint:
                entry["Hint"] = hint
            query_only.append(entry)
            rules_meta.append(meta)
            continue
        alarms = []
        for suffix, says, pattern in d.outcome_patterns():
            metric = name + suffix
            resources[f"{metric}MetricFilter"] = {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "FilterName": {"Fn::Sub": "${AWS::StackName}-" + metric},
                    "LogGroupName": {"Ref": "LogGroupName"},
                    "FilterPattern": pattern,
                    "MetricTransformations": [
                        {"MetricNamespace": {"Ref": "MetricNamespace"}, "MetricName": metric, "MetricValue": "1"}
                    ],
                },
            }
            resources[f"{metric}Alarm"] = {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": {"Fn::Sub": "${AWS::StackName}-" + metric},
                    "AlarmDescription": _alarm_description(d, says),
                    "Namespace": {"Ref": "MetricNamespace"},
                    "MetricName": metric,
                    "Statistic": "Sum",
                    "Period": {"Ref": "AlarmPeriodSeconds"},
                    "EvaluationPeriods": {"Ref": "EvaluationPeriods"},
                    "DatapointsToAlarm": {"Ref": "DatapointsToAlarm"},
                    "Threshold": {"Ref": "AlarmThreshold"},
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [{"Ref": "AlertTopic"}],
                },
            }
            alarms.append({"Outcome": suffix, "MetricFilter": f"{metric}MetricFilter", "Alarm": f"{metric}Alarm", "MetricName": metric})
        rules_meta.append({**meta, "Alarms": alarms})
    description = (
        f"{PACK_NAME} {version}: CloudWatch Logs Insights query definitions for {len(detections)} Sigma rules on "
        f"AWS CloudTrail, and metric filters with alarms (one for successful calls, one for failed ones) notifying an "
        f"SNS topic for the {len(with_filter)} that fit a filter pattern."
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": whole_sentences(description, TEMPLATE_DESCRIPTION_MAX_LENGTH),
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": "CloudTrail logs"}, "Parameters": ["LogGroupName"]},
                    {
                        "Label": {"default": "Alarms"},
                        "Parameters": [
                            "MetricNamespace",
                            "AlarmThreshold",
                            "AlarmPeriodSeconds",
                            "EvaluationPeriods",
                            "DatapointsToAlarm",
                        ],
                    },
                    {"Label": {"default": "Notification"}, "Parameters": ["NotificationEmail"]},
                ]
            },
            "CloudTrailDetectionPack": {
                "Pack": PACK_NAME,
                "Version": version,
                "Rules": rules_meta,
                "QueryOnlyRules": query_only,
            },
        },
        "Parameters": {
            "LogGroupName": {
                "Type": "String",
                "Description": PARAMETER_DESCRIPTIONS["LogGroupName"],
                "MinLength": 1,
                "MaxLength": LOG_GROUP_NAME_MAX_LENGTH,
                "AllowedPattern": LOG_GROUP_NAME_PATTERN.pattern,
            },
            "NotificationEmail": {
                "Type": "String",
                "Description": PARAMETER_DESCRIPTIONS["NotificationEmail"],
                "Default": "",
                "AllowedPattern": "^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$",
                "ConstraintDescription": "an email address, or empty",
            },
            "AlarmThreshold": {
                "Type": "Number",
                "Description": PARAMETER_DESCRIPTIONS["AlarmThreshold"],
                "Default": PARAMETER_DEFAULTS["AlarmThreshold"],
                "MinValue": 1,
            },
            "AlarmPeriodSeconds": {
                "Type": "Number",
                "Description": PARAMETER_DESCRIPTIONS["AlarmPeriodSeconds"],
                "Default": PARAMETER_DEFAULTS["AlarmPeriodSeconds"],
                "AllowedValues": FlowList(ALARM_PERIODS),
            },
            "EvaluationPeriods": {
                "Type": "Number",
                "Description": PARAMETER_DESCRIPTIONS["EvaluationPeriods"],
                "Default": PARAMETER_DEFAULTS["EvaluationPeriods"],
                "AllowedValues": FlowList(EVALUATION_PERIODS),
            },
            "DatapointsToAlarm": {
                "Type": "Number",
                "Description": PARAMETER_DESCRIPTIONS["DatapointsToAlarm"],
                "Default": PARAMETER_DEFAULTS["DatapointsToAlarm"],
                "AllowedValues": FlowList(DATAPOINTS_TO_ALARM),
            },
            "MetricNamespace": {
                "Type": "String",
                "Description": PARAMETER_DESCRIPTIONS["MetricNamespace"],
                "Default": PARAMETER_DEFAULTS["MetricNamespace"],
                "MinLength": 1,
                "MaxLength": 255,
                "AllowedPattern": "[^:*$]+",
            },
        },
        "Rules": template_rules(),
        "Conditions": {"HasNotificationEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]}},
        "Resources": resources,
        "Outputs": {
            "AlertTopicArn": {
                "Description": "SNS topic the alarms notify; subscribe more endpoints to it",
                "Value": {"Ref": "AlertTopic"},
            }
        },
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow(dumper: yaml.SafeDumper, value: FlowList):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(FlowList, _flow)


def dump_yaml(doc: dict) -> str:
    """YAML in the dicts' own key order (Type before Properties), no aliases, no line folding."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6)


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json (formatted as `terraform fmt` writes it)

# The Terraform and provider versions both modules are written and tested for (stated once, used by eventbridge.py
# too): variable validations that refer to other variables need Terraform 1.9.
TERRAFORM_VERSIONS = """\
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}
"""

TERRAFORM_MAIN = """\
# CloudTrail detection pack: Logs Insights query definitions, and metric filter -> alarm -> SNS topic for
# each rule that fits a filter pattern. The rules come from detections.json (generated with the release).

locals {
  detections = jsondecode(file("${path.module}/detections.json"))
  # one metric filter and alarm per rule and outcome (Succeeded, Failed), keyed <Rule><Outcome>
  metric_filters = merge([for key, d in local.detections : { for outcome, a in d.alarms : "${key}${outcome}" => a }]...)
}

resource "aws_sns_topic" "alerts" {
  name_prefix  = "${var.name_prefix}-"
  display_name = "CloudTrail detections"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.notification_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

resource "aws_cloudwatch_query_definition" "rule" {
  for_each        = local.detections
  name            = each.value.query_name
  log_group_names = [var.log_group_name]
  query_string    = each.value.query
}

resource "aws_cloudwatch_log_metric_filter" "rule" {
  for_each       = local.metric_filters
  name           = "${var.name_prefix}-${each.key}"
  log_group_name = var.log_group_name
  pattern        = each.value.filter_pattern

  metric_transformation {
    name      = each.key
    namespace = var.metric_namespace
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "rule" {
  for_each            = local.metric_filters
  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = each.value.alarm_description
  namespace           = var.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.rule[each.key].metric_transformation[0].name
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  threshold           = var.alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
"""


_TERRAFORM_NAMES = {
    "AlarmPeriodSeconds": "alarm_period_seconds",
    "EvaluationPeriods": "evaluation_periods",
    "DatapointsToAlarm": "datapoints_to_alarm",
    "this stack's Region": "the provider's Region",
    " (checked by the template's Rules)": "",
}


def _hcl(text: str) -> str:
    """A parameter description as a Terraform variable's: its names, as an HCL string literal (JSON's escapes are
    HCL's for these texts)."""
    for cfn, tf in _TERRAFORM_NAMES.items():
        text = text.replace(cfn, tf)
    return json.dumps(text)


TERRAFORM_VARIABLES = f"""\
variable "log_group_name" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["LogGroupName"])}
  type        = string
}}

variable "notification_email" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["NotificationEmail"])}
  type        = string
  default     = ""
}}

variable "alarm_threshold" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["AlarmThreshold"])}
  type        = number
  default     = {PARAMETER_DEFAULTS["AlarmThreshold"]}
}}

variable "alarm_period_seconds" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["AlarmPeriodSeconds"])}
  type        = number
  default     = {PARAMETER_DEFAULTS["AlarmPeriodSeconds"]}

  validation {{
    condition     = contains([{", ".join(str(p) for p in ALARM_PERIODS)}], var.alarm_period_seconds)
    error_message = "Use one of {", ".join(str(p) for p in ALARM_PERIODS)}."
  }}
}}

variable "evaluation_periods" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["EvaluationPeriods"])}
  type        = number
  default     = {PARAMETER_DEFAULTS["EvaluationPeriods"]}

  validation {{
    condition     = var.evaluation_periods >= 1 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods is a whole number of periods, at least 1."
  }}

  validation {{
    condition     = var.alarm_period_seconds * var.evaluation_periods <= (var.alarm_period_seconds < {ALARM_SHORT_PERIOD_SECONDS} ? {ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS} : {ALARM_EVALUATION_MAX_SECONDS})
    error_message = "PutMetricAlarm: alarm_period_seconds x evaluation_periods can be at most {ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS} seconds for periods under {ALARM_SHORT_PERIOD_SECONDS} seconds, {ALARM_EVALUATION_MAX_SECONDS} seconds otherwise."
  }}
}}

variable "datapoints_to_alarm" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["DatapointsToAlarm"])}
  type        = number
  default     = {PARAMETER_DEFAULTS["DatapointsToAlarm"]}

  validation {{
    condition     = var.datapoints_to_alarm >= 1 && var.datapoints_to_alarm <= var.evaluation_periods && floor(var.datapoints_to_alarm) == var.datapoints_to_alarm
    error_message = "datapoints_to_alarm (M) is a whole number from 1 to evaluation_periods (N)."
  }}
}}

variable "metric_namespace" {{
  description = {_hcl(PARAMETER_DESCRIPTIONS["MetricNamespace"])}
  type        = string
  default     = "{PARAMETER_DEFAULTS["MetricNamespace"]}"
}}

variable "name_prefix" {{
  description = "Prefix of the metric filter, alarm and topic names"
  type        = string
  default     = "cloudtrail-detections"
}}
"""

TERRAFORM_OUTPUTS = """\
output "alert_topic_arn" {
  description = "SNS topic the alarms notify; subscribe more endpoints to it"
  value       = aws_sns_topic.alerts.arn
}

output "query_definition_ids" {
  description = "Logs Insights query definition ids, by rule"
  value       = { for key, q in aws_cloudwatch_query_definition.rule : key => q.query_definition_id }
}
"""


def terraform_detections(detections: list[Detection]) -> dict:
    names = logical_names([d.rule for d in detections])
    out = {}
    for d in detections:
        request = query_definition_request(d)
        out[names[d.rule.id]] = {
            "rule_id": d.rule.id,
            "title": d.rule.title,
            "level": d.rule.level,
            "query_name": request["name"],
            "query": request["queryString"],
            "filter_pattern": d.filter_pattern,
            "no_filter_reason": d.no_filter_reason or None,
            "alarms": {
                suffix: {"filter_pattern": pattern, "alarm_description": _alarm_description(d, says)}
                for suffix, says, pattern in d.outcome_patterns()
            },
        }
    return out


# ---------------------------------------------------------------------------------------------------------
# Writing


def _put(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    written.append(path)


def write_detections(detections: list[Detection], out_dir: Path, version: str) -> list[Path]:
    check(detections, version)
    out_dir = Path(out_dir)
    slugs = {d.rule.id: d.rule.slug for d in detections}
    if len(set(slugs.values())) != len(slugs):
        raise PackError(out_dir, "two rules share a file name; give them distinct `name`s")
    written: list[Path] = []
    for d in detections:
        _put(out_dir / "queries" / f"{slugs[d.rule.id]}.logsinsights", query_file_text(d, version), written)
    requests = [query_definition_request(d) for d in detections]
    _put(out_dir / "query-definitions.json", _json(requests), written)
    for d, request in zip(detections, requests):
        _put(out_dir / "query-definitions" / f"{slugs[d.rule.id]}.json", _json(request), written)
    _put(out_dir / TEMPLATE_FILE, dump_yaml(template(detections, version)), written)
    tf = out_dir / "terraform"
    _put(tf / "detections.json", _json(terraform_detections(detections)), written)
    _put(tf / "main.tf", TERRAFORM_MAIN, written)
    _put(tf / "outputs.tf", TERRAFORM_OUTPUTS, written)
    _put(tf / "variables.tf", TERRAFORM_VARIABLES, written)
    _put(tf / "versions.tf", TERRAFORM_VERSIONS, written)
    return written


def write(source: Release | Pack, out_dir: Path) -> list[Path]:
    """Every CloudWatch artifact of the release into out_dir (a Pack is compiled for this writer alone)."""
    release = as_release(source, NEEDS)
    return write_detections(collect(release), out_dir, release.version)
