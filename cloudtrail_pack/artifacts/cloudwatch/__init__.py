"""CloudWatch release artifacts: Logs Insights queries, saved query definitions, and the metric filter ->
alarm -> SNS path, as a CloudFormation template and a small Terraform module.

Everything comes from our CloudWatch Logs Insights backend, compiled once by the release (`NEEDS`): the
`default` format gives each rule's Logs Insights query, the metric filter format its CloudWatch Logs
filter pattern. A rule the filter pattern language cannot express (the backend raises
SigmaFeatureNotSupportedByBackendError, e.g. for correlations) keeps its query definition and is listed
with the reason in the template's Metadata.

Files written into `out` (the release passes dist/cloudwatch/), the text formats from templates/ (the
Terraform module's versions.tf from the writers' shared artifacts/templates/):

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

from dataclasses import dataclass
from pathlib import Path

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

from ...attack import attack_refs
from ...compilation import Refusal
from ...pack import PACK_NAME, PackError, PackRule, shown
from ...release.context import Release
from ...targets import Target, plugins
from ..common import (
    distinct_slugs, dump_yaml, json_text, logical_names, put, render, render_yaml, sentences, whole_sentences,
)

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

#: The alarms of a rule with a metric filter, one per outcome: (logical name suffix, what the notification says,
#: whether it counts failed calls).
OUTCOMES = (
    ("Succeeded", "outcome: succeeded", False),
    ("Failed", "outcome: denied or failed (errorCode)", True),
)


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

    @property
    def window(self) -> str:
        """For a correlation, how its query counts (the backend's stats ... bin()): said in the file's header, since
        the query alone reads like Sigma's sliding window and is not one."""
        if not self.rule.is_correlation:
            return ""
        span = self.rule.rule.timespan.spec
        return (
            f"counts per fixed {span} bucket of @timestamp (bin({span}); @timestamp is when CloudTrail delivered the "
            f"event), not Sigma's sliding {span} window: events within {span} of each other that fall on both sides of "
            "a bucket boundary are not counted together, so such a burst is not reported (docs/cloudwatch-backend.md)"
        )

    def outcome_patterns(self) -> list[tuple[str, str, str]]:
        """(suffix, what it says, filter pattern) of each alarm: none without a filter pattern."""
        if self.filter_pattern is None:
            return []
        return [(suffix, says, with_outcome(self.filter_pattern, failed)) for suffix, says, failed in OUTCOMES]


# ---------------------------------------------------------------------------------------------------------
# Compiling


def backend_formats(target: Target) -> set[str]:
    """The output formats the installed CloudWatch backend declares (its class's `formats`)."""
    backend = plugins().backends.get(target.backend)
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


def collect(release: Release) -> list[Detection]:
    """Every rule the CloudWatch backend compiles: its query, and its filter pattern where it fits. A rule the
    backend refuses is not deployed to CloudWatch (the build table gives the reason), nor is a correlation step
    (`step_only`): an alarm on it would alert on the step alone."""
    offered = backend_formats(release.targets[TARGET])
    missing = {QUERY_FORMAT, METRIC_FILTER_FORMAT} - offered
    if missing:
        raise PackError(TARGET, f"the CloudWatch backend has no output format {sorted(missing)}; it offers {sorted(offered)}")
    detections = []
    for rule in release.pack.rules:
        queries = release.queries(rule, TARGET, QUERY_FORMAT)
        if queries is None or rule.step_only:
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
# Queries and query definitions


def query_file_text(d: Detection, version: str) -> str:
    """The query with a `#` comment header (templates/query.logsinsights.j2); the description as whole sentences
    that keep the file within StartQuery's queryString limit (the file is sent whole)."""

    def text(description: str) -> str:
        return render(__name__, "query.logsinsights.j2", d=d, description=description, pack=PACK_NAME, version=version)

    budget = QUERY_STRING_MAX_LENGTH - len(text(""))
    return text(whole_sentences(d.description, max(budget, 0)))


def query_definition_request(d: Detection, log_group_names: list[str] | None = None) -> dict:
    """The PutQueryDefinition request (`--cli-input-json`), from the backend's builder: the same request as
    `sigma convert -f query_definition` writes. PackError naming the rule if the API would refuse it."""
    try:
        return query_definition(d.name, d.query, [LOG_GROUP_PLACEHOLDER] if log_group_names is None else log_group_names)
    except SigmaFeatureNotSupportedByBackendError as e:
        raise PackError(shown(d.rule.source), f"CloudWatch: {e.args[0]}") from None


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


def _rule_assertions() -> list[tuple[str, list[dict]]]:
    """(rule name, assertions) of the template's Rules: the PutMetricAlarm bounds that AllowedValues alone cannot
    express, each assertion refusing `param` = `value` together with `other` in `forbidden`.

    CloudFormation Rules compare parameter values as strings and cannot multiply, so each bound is written out over
    the template's own choices: for a period where some EvaluationPeriods choices exceed the API's total evaluation
    time (`limits.max_evaluation_periods`), those choices are forbidden; and a DatapointsToAlarm value is forbidden
    with every EvaluationPeriods below it (M <= N)."""
    window = []
    for period in ALARM_PERIODS:
        most = max_evaluation_periods(period)
        over = [n for n in EVALUATION_PERIODS if n > most]
        if over:
            window.append({
                "param": "AlarmPeriodSeconds", "value": period, "other": "EvaluationPeriods", "forbidden": over,
                "description": f"With AlarmPeriodSeconds {period}, EvaluationPeriods can be at most {most}: PutMetricAlarm "
                f"allows at most {max_evaluation_seconds(period)} seconds of Period x EvaluationPeriods",
            })
    m_of_n = [
        {
            "param": "DatapointsToAlarm", "value": m, "other": "EvaluationPeriods", "forbidden": [n for n in EVALUATION_PERIODS if n < m],
            "description": f"DatapointsToAlarm {m} needs EvaluationPeriods of at least {m} (M out of N: M <= N)",
        }
        for m in DATAPOINTS_TO_ALARM
        if any(n < m for n in EVALUATION_PERIODS)
    ]
    rules = [("AlarmWindowWithinPutMetricAlarmLimit", window), ("DatapointsToAlarmAtMostEvaluationPeriods", m_of_n)]
    return [(name, assertions) for name, assertions in rules if assertions]


def template_rules() -> dict:
    """The template's Rules (templates/rules.cfn.yaml.j2), as a document."""
    return render_yaml(__name__, "rules.cfn.yaml.j2", rules=_rule_assertions())["Rules"]


def template(detections: list[Detection], version: str) -> dict:
    """The CloudFormation template (templates/cloudformation.yaml.j2), as a document."""
    names = logical_names([d.rule for d in detections])
    views = []
    for d in detections:
        name = names[d.rule.id]
        alarms = [
            {"suffix": suffix, "metric": name + suffix, "pattern": pattern, "description": _alarm_description(d, says)}
            for suffix, says, pattern in d.outcome_patterns()
        ]
        views.append({"rule": d.rule, "name": name, "request": query_definition_request(d), "alarms": alarms,
                      "no_filter_reason": d.no_filter_reason, "hint": _no_filter_hint(d, detections, names)})
    with_filter = [d for d in detections if d.filter_pattern is not None]
    description = (
        f"{PACK_NAME} {version}: CloudWatch Logs Insights query definitions for {len(detections)} Sigma rules on "
        f"AWS CloudTrail, and metric filters with alarms (one for successful calls, one for failed ones) notifying an "
        f"SNS topic for the {len(with_filter)} that fit a filter pattern."
    )
    return render_yaml(
        __name__, "cloudformation.yaml.j2",
        description=whole_sentences(description, TEMPLATE_DESCRIPTION_MAX_LENGTH),
        pack=PACK_NAME, version=version, detections=views, rules=_rule_assertions(),
        parameters=PARAMETER_DESCRIPTIONS, defaults=PARAMETER_DEFAULTS,
        log_group_name_max=LOG_GROUP_NAME_MAX_LENGTH, log_group_name_pattern=LOG_GROUP_NAME_PATTERN.pattern,
        alarm_periods=ALARM_PERIODS, evaluation_periods=EVALUATION_PERIODS, datapoints_to_alarm=DATAPOINTS_TO_ALARM,
    )


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json (formatted as `terraform fmt` writes it)

_TERRAFORM_NAMES = {
    "AlarmPeriodSeconds": "alarm_period_seconds",
    "EvaluationPeriods": "evaluation_periods",
    "DatapointsToAlarm": "datapoints_to_alarm",
    "this stack's Region": "the provider's Region",
    " (checked by the template's Rules)": "",
}


def terraform_descriptions() -> dict[str, str]:
    """The parameter descriptions as the Terraform variables' (their names, the provider's Region)."""
    out = {}
    for name, text in PARAMETER_DESCRIPTIONS.items():
        for cfn, tf in _TERRAFORM_NAMES.items():
            text = text.replace(cfn, tf)
        out[name] = text
    return out


def terraform_variables() -> str:
    """variables.tf (templates/variables.tf.j2): the template's parameters, with PutMetricAlarm's bounds checked
    exactly (Terraform can multiply)."""
    return render(
        __name__, "variables.tf.j2", descriptions=terraform_descriptions(), defaults=PARAMETER_DEFAULTS,
        alarm_periods=ALARM_PERIODS, short_period=ALARM_SHORT_PERIOD_SECONDS,
        short_period_max=ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS, evaluation_max=ALARM_EVALUATION_MAX_SECONDS,
    )


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


def write_detections(detections: list[Detection], out: Path, version: str) -> list[Path]:
    """Every CloudWatch file for `detections` into `out` (see the module docstring); the files, in writing order."""
    check(detections, version)
    out = Path(out)
    slugs = distinct_slugs([d.rule for d in detections])
    requests = [query_definition_request(d) for d in detections]
    tf = out / "terraform"
    files = {
        **{out / "queries" / f"{slugs[d.rule.id]}.logsinsights": query_file_text(d, version) for d in detections},
        out / "query-definitions.json": json_text(requests),
        **{out / "query-definitions" / f"{slugs[d.rule.id]}.json": json_text(r) for d, r in zip(detections, requests)},
        out / TEMPLATE_FILE: dump_yaml(template(detections, version)),
        tf / "detections.json": json_text(terraform_detections(detections)),
        tf / "main.tf": render(__name__, "main.tf.j2"),
        tf / "outputs.tf": render(__name__, "outputs.tf.j2"),
        tf / "variables.tf": terraform_variables(),
        tf / "versions.tf": render(__name__, "terraform-versions.tf.j2"),
    }
    return [put(path, text) for path, text in files.items()]


def write(release: Release, out: Path) -> None:
    """Every CloudWatch artifact of the release into `out`."""
    write_detections(collect(release), out, release.version)
