"""CloudWatch release artifacts: Logs Insights queries, saved query definitions, and the metric filter ->
alarm -> SNS path, as a CloudFormation template and a small Terraform module.

Everything comes from our CloudWatch Logs Insights backend (`compile_rules(pack, "cloudwatch", fmt)`):
the `default` format gives each rule's Logs Insights query, the metric filter format its CloudWatch Logs
filter pattern. A rule the filter pattern language cannot express (the backend raises
SigmaFeatureNotSupportedByBackendError, e.g. for correlations) keeps its query definition and is listed
with the reason in the template's Metadata.

Files written into `out_dir` (release.py passes dist/cloudwatch/):

    queries/<rule>.logsinsights          readable query per rule, `#` comment header first
    query-definitions.json               list of PutQueryDefinition requests (one per rule)
    query-definitions/<rule>.json        the same, one file per rule: `--cli-input-json file://...`
    cloudformation/cloudtrail-detections.cfn.yaml
    terraform/{main.tf,variables.tf,outputs.tf,detections.json}

All output is deterministic: no timestamps, sorted or fixed key order, `\\n` line endings.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from ..attack import attack_refs
from ..pack import PACK_NAME, Pack, PackError, PackRule, pack_version
from ..targets import compile_rules

TARGET = "cloudwatch"
QUERY_FORMAT = "default"
METRIC_FILTER_FORMAT = "metric_filter"

QUERY_NAME_PREFIX = "CloudTrail Detections/"
# Written into logGroupNames of the query definition requests; it matches the API's log group name pattern
# so the requests validate, and is meant to be replaced (see the README) before they are sent.
LOG_GROUP_PLACEHOLDER = "REPLACE_WITH_CLOUDTRAIL_LOG_GROUP"
TEMPLATE_FILE = "cloudformation/cloudtrail-detections.cfn.yaml"

# Limits of the CloudWatch Logs and CloudWatch APIs (botocore's service models; the tests compare).
QUERY_STRING_MAX = 10000  # logs PutQueryDefinition queryString
QUERY_NAME_MAX = 255  # logs PutQueryDefinition name
FILTER_PATTERN_MAX = 1024  # logs PutMetricFilter filterPattern
ALARM_DESCRIPTION_MAX = 1024  # cloudwatch PutMetricAlarm AlarmDescription
TEMPLATE_DESCRIPTION_MAX = 1024  # CloudFormation template Description

PARAMETER_DEFAULTS = {
    "MetricNamespace": "CloudTrailDetectionPack",
    "AlarmThreshold": 1,
    "AlarmPeriodSeconds": 300,
    "EvaluationPeriods": 1,
}
ALARM_PERIODS = [60, 300, 600, 900, 1800, 3600, 21600, 86400]



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
        text = (self.rule.rule.description or "").strip()
        return text.splitlines()[0].strip() if text else ""

    @property
    def attack(self) -> str:
        return ", ".join(ref.label() for ref in attack_refs(self.rule))


# ---------------------------------------------------------------------------------------------------------
# Compiling


def backend_formats() -> set[str]:
    """The output formats the installed CloudWatch backend declares (its class's `formats`)."""
    from ..targets import TARGETS, plugins

    backend = plugins().backends.get(TARGETS[TARGET].backend)
    if backend is None:
        raise PackError(TARGET, "the CloudWatch Logs Insights backend is not installed; run `make dist` to install the project")
    return set(getattr(backend, "formats", {}) or {})


def collect(pack: Pack) -> list[Detection]:
    """Compile every rule with the CloudWatch backend: a query for each, a filter pattern where it fits."""
    missing = {QUERY_FORMAT, METRIC_FILTER_FORMAT} - backend_formats()
    if missing:
        raise PackError(TARGET, f"the CloudWatch backend has no output format {sorted(missing)}; it offers {sorted(backend_formats())}")
    queries = compile_rules(pack, TARGET, QUERY_FORMAT)
    detections = []
    for rule in pack.rules:
        query = _single(rule, queries[rule.id], "Logs Insights query")
        pattern, reason = metric_filter_pattern(pack, rule)
        detections.append(Detection(rule, query, pattern, reason))
    check(detections)
    return detections


def metric_filter_pattern(pack: Pack, rule: PackRule) -> tuple[str | None, str]:
    """(pattern, "") or (None, reason): a rule the filter pattern language cannot express is not an error."""
    try:
        compiled = compile_rules(pack, TARGET, METRIC_FILTER_FORMAT, rules=[rule])[rule.id]
    except PackError as e:
        if isinstance(e.__cause__, SigmaFeatureNotSupportedByBackendError):
            return None, _reason(e.__cause__)
        raise
    if len(compiled) != 1:
        return None, f"no metric filter: the rule compiles to {len(compiled)} filter patterns, a metric filter takes one"
    pattern = compiled[0]
    if not isinstance(pattern, str):
        raise PackError(rule.path, f"{TARGET} {METRIC_FILTER_FORMAT}: expected a pattern string, got {type(pattern).__name__}")
    if len(pattern) > FILTER_PATTERN_MAX:
        return None, f"no metric filter: the pattern has {len(pattern)} characters, over the limit of {FILTER_PATTERN_MAX}"
    return pattern, ""


def _reason(error: SigmaFeatureNotSupportedByBackendError) -> str:
    """The backend's message without the location pySigma appends (an absolute path: not reproducible)."""
    message = str(error.args[0]) if error.args else str(error)
    return message if message.lower().startswith("metric filter") else f"metric filter pattern: {message}"


def _single(rule: PackRule, items: list, what: str) -> str:
    if len(items) != 1 or not isinstance(items[0], str):
        raise PackError(rule.path, f"CloudWatch: expected one {what}, got {len(items)}")
    return items[0]


def check(detections: list[Detection]) -> None:
    """The limits the CloudWatch Logs API puts on what we deploy: PackError naming the rule."""
    for d in detections:
        if not d.query.strip():
            raise PackError(d.rule.path, "CloudWatch: empty Logs Insights query")
        if len(d.query) > QUERY_STRING_MAX:
            raise PackError(d.rule.path, f"CloudWatch: query has {len(d.query)} characters, over {QUERY_STRING_MAX}")
        if len(d.name) > QUERY_NAME_MAX:
            raise PackError(d.rule.path, f"CloudWatch: query name {d.name!r} is over {QUERY_NAME_MAX} characters")
        if d.filter_pattern is not None and len(d.filter_pattern) > FILTER_PATTERN_MAX:
            raise PackError(d.rule.path, f"CloudWatch: filter pattern is over {FILTER_PATTERN_MAX} characters")
        if d.filter_pattern is None and not d.no_filter_reason:
            raise PackError(d.rule.path, "CloudWatch: a rule without a metric filter needs the reason")


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
    header = [
        d.rule.title,
        f"id: {d.rule.id}",
        f"level: {d.rule.level}",
        f"description: {d.description}",
        f"ATT&CK: {d.attack or 'none tagged'}",
        f"rule: {d.rule.path.as_posix()}",
        f"pack: {PACK_NAME} {version}",
    ]
    if d.filter_pattern is not None:
        header.append(f"metric filter pattern: {d.filter_pattern}")
    else:
        header.append(f"metric filter: none ({d.no_filter_reason})")
    lines = ["# " + line.replace("\n", " ") for line in header]
    return "\n".join(lines) + "\n\n" + d.query.rstrip("\n") + "\n"


def query_definition_request(d: Detection) -> dict:
    """A PutQueryDefinition request (`--cli-input-json`). No queryLanguage: it defaults to Logs Insights
    QL, and older AWS CLI versions reject the parameter."""
    return {"name": d.name, "queryString": d.query, "logGroupNames": [LOG_GROUP_PLACEHOLDER]}


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# CloudFormation


def _alarm_description(d: Detection) -> str:
    text = f"{d.rule.title} | level: {d.rule.level} | Sigma rule id: {d.rule.id}"
    if d.description:
        text += f" | {d.description}"
    return text if len(text) <= ALARM_DESCRIPTION_MAX else text[: ALARM_DESCRIPTION_MAX - 3] + "..."


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
    metrics = ", ".join(names[x.rule.id] for x in referenced)
    return (
        f"Approximation: an alarm on metric {metrics} with threshold {count} over {timespan} seconds, "
        f"without the rule's group-by; the saved query is exact."
    )


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
        resources[f"{name}QueryDefinition"] = {
            "Type": "AWS::Logs::QueryDefinition",
            "Properties": {"Name": d.name, "QueryString": d.query, "LogGroupNames": [{"Ref": "LogGroupName"}]},
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
        resources[f"{name}MetricFilter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "FilterName": {"Fn::Sub": "${AWS::StackName}-" + name},
                "LogGroupName": {"Ref": "LogGroupName"},
                "FilterPattern": d.filter_pattern,
                "MetricTransformations": [
                    {"MetricNamespace": {"Ref": "MetricNamespace"}, "MetricName": name, "MetricValue": "1"}
                ],
            },
        }
        resources[f"{name}Alarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": {"Fn::Sub": "${AWS::StackName}-" + name},
                "AlarmDescription": _alarm_description(d),
                "Namespace": {"Ref": "MetricNamespace"},
                "MetricName": name,
                "Statistic": "Sum",
                "Period": {"Ref": "AlarmPeriodSeconds"},
                "EvaluationPeriods": {"Ref": "EvaluationPeriods"},
                "Threshold": {"Ref": "AlarmThreshold"},
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlertTopic"}],
            },
        }
        rules_meta.append({**meta, "MetricFilter": f"{name}MetricFilter", "Alarm": f"{name}Alarm", "MetricName": name})
    description = (
        f"{PACK_NAME} {version}: CloudWatch Logs Insights query definitions for {len(detections)} Sigma rules on "
        f"AWS CloudTrail, and metric filters with alarms notifying an SNS topic for the {len(with_filter)} that fit "
        "a filter pattern."
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description[:TEMPLATE_DESCRIPTION_MAX],
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": "CloudTrail logs"}, "Parameters": ["LogGroupName"]},
                    {
                        "Label": {"default": "Alarms"},
                        "Parameters": ["MetricNamespace", "AlarmThreshold", "AlarmPeriodSeconds", "EvaluationPeriods"],
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
                "Description": "CloudWatch Logs log group that the CloudTrail trail delivers events to",
                "MinLength": 1,
                "MaxLength": 512,
                "AllowedPattern": "[.\\-_/#A-Za-z0-9]+",
            },
            "NotificationEmail": {
                "Type": "String",
                "Description": "Email address subscribed to the alarm topic (confirm the subscription mail); empty for none",
                "Default": "",
                "AllowedPattern": "^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$",
                "ConstraintDescription": "an email address, or empty",
            },
            "AlarmThreshold": {
                "Type": "Number",
                "Description": "Matching events within one period that set an alarm off",
                "Default": PARAMETER_DEFAULTS["AlarmThreshold"],
                "MinValue": 1,
            },
            "AlarmPeriodSeconds": {
                "Type": "Number",
                "Description": "Length of one alarm evaluation period, in seconds",
                "Default": PARAMETER_DEFAULTS["AlarmPeriodSeconds"],
                "AllowedValues": ALARM_PERIODS,
            },
            "EvaluationPeriods": {
                "Type": "Number",
                "Description": "Number of periods the alarm evaluates",
                "Default": PARAMETER_DEFAULTS["EvaluationPeriods"],
                "MinValue": 1,
            },
            "MetricNamespace": {
                "Type": "String",
                "Description": "CloudWatch namespace of the per-rule metrics",
                "Default": PARAMETER_DEFAULTS["MetricNamespace"],
                "MinLength": 1,
                "MaxLength": 255,
                "AllowedPattern": "[^:*$]+",
            },
        },
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


_Dumper.add_representer(str, _str)


def dump_yaml(doc: dict) -> str:
    """YAML in the dicts' own key order (Type before Properties), no aliases, no line folding."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6)


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json


TERRAFORM_MAIN = """\
# CloudTrail detection pack: Logs Insights query definitions, and metric filter -> alarm -> SNS topic for
# each rule that fits a filter pattern. The rules come from detections.json (generated with the release).

locals {
  detections     = jsondecode(file("${path.module}/detections.json"))
  metric_filters = { for key, d in local.detections : key => d if d.filter_pattern != null }
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
  threshold           = var.alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
"""

TERRAFORM_VARIABLES = f"""\
variable "log_group_name" {{
  description = "CloudWatch Logs log group that the CloudTrail trail delivers events to"
  type        = string
}}

variable "notification_email" {{
  description = "Email address subscribed to the alarm topic (confirm the subscription mail); empty for none"
  type        = string
  default     = ""
}}

variable "alarm_threshold" {{
  description = "Matching events within one period that set an alarm off"
  type        = number
  default     = {PARAMETER_DEFAULTS["AlarmThreshold"]}
}}

variable "alarm_period_seconds" {{
  description = "Length of one alarm evaluation period, in seconds"
  type        = number
  default     = {PARAMETER_DEFAULTS["AlarmPeriodSeconds"]}

  validation {{
    condition     = contains([{", ".join(str(p) for p in ALARM_PERIODS)}], var.alarm_period_seconds)
    error_message = "Use one of {", ".join(str(p) for p in ALARM_PERIODS)}."
  }}
}}

variable "evaluation_periods" {{
  description = "Number of periods the alarm evaluates"
  type        = number
  default     = {PARAMETER_DEFAULTS["EvaluationPeriods"]}
}}

variable "metric_namespace" {{
  description = "CloudWatch namespace of the per-rule metrics"
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
    return {
        names[d.rule.id]: {
            "rule_id": d.rule.id,
            "title": d.rule.title,
            "level": d.rule.level,
            "query_name": d.name,
            "query": d.query,
            "filter_pattern": d.filter_pattern,
            "no_filter_reason": d.no_filter_reason or None,
            "alarm_description": _alarm_description(d),
        }
        for d in detections
    }


# ---------------------------------------------------------------------------------------------------------
# Writing


def _put(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    written.append(path)


def write_detections(detections: list[Detection], out_dir: Path, version: str) -> list[Path]:
    check(detections)
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
    return written


def write(pack: Pack, out_dir: Path) -> list[Path]:
    """Compile the pack with the CloudWatch backend and write every CloudWatch artifact into out_dir."""
    return write_detections(collect(pack), out_dir, pack_version())
