"""The CloudFormation template's metric filter -> metric -> alarm -> SNS path, as CloudWatch runs it.

Each step is modelled from AWS's documentation, cited by tag:

[DELIVERY] CloudTrail gives each event it sends to CloudWatch Logs the time it *delivered* it as the log event's
    timestamp: "The Time (UTC) column in the CloudWatch console shows when the event was delivered to your log group.
    To see the actual time that the event was logged by CloudTrail, see the eventTime field." It "typically delivers
    events to your log group within an average of about 5 minutes of an API call. This time is not guaranteed."
    (AWS CloudTrail User Guide, "Sending events to CloudWatch Logs", "Viewing events in the CloudWatch console",
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html).
[FILTER] A metric filter publishes its metric value "each time a matching log is found"; with no default value
    (the template sets none) nothing is published when no event matches; "Filters only publish the metric data
    points for events that happen after the filter was created" (CloudWatch Logs User Guide, "Creating metrics from
    log events using filters", https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/MonitoringLogData.html).
    The filter pattern is evaluated on each record by tests/evaluators/metric_filter.py.
[STAMP] The datapoint carries the log event's timestamp, not the time the filter ran, so by [DELIVERY] it is
    stamped with the delivery time. AWS does not state that in one sentence; the model is run under both readings
    of the timestamp, "delivery" (the documented log event timestamp) and "event" (eventTime, as if CloudTrail
    stamped events with it), and the template's defaults must work under both.
[LATENCY] AWS documents no delay between a log event's ingestion and its datapoint being visible to alarms; the
    model makes it visible METRIC_LATENCY after ingestion (an assumption; the defaults leave 13 minutes of margin).
[PERIOD] The alarm's statistic (Sum) aggregates the datapoints "with time stamps that fall within the same"
    period (GetMetricStatistics API reference).
[EVALUATION] "When CloudWatch evaluates an alarm, it does so every minute, even if the period for the alarm is
    longer than one minute ... an alarm with a period of five minutes is evaluated every minute, using five-minute
    windows that shift by one minute each time ... For an alarm evaluation at 12:15:00, CloudWatch expects data
    points with timestamps of 12:00:00, 12:05:00, and 12:10:00" (CloudWatch User Guide, "Limits",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html): the newest period ends at
    the evaluation. Evaluations run on whole minutes in that example; the model also shifts them by a few seconds
    (PHASES), so no result depends on the alignment.
[RANGE] "when an alarm evaluates whether to change state, CloudWatch attempts to retrieve a higher number of data
    points than specified by Evaluation Periods ... The timeframe of the data points that it attempts to retrieve
    is the evaluation range"; its example retrieves 5 data points for 3 evaluation periods (CloudWatch User Guide,
    "Configuring how CloudWatch alarms treat missing data", "How alarm state is evaluated when data is missing",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html). The exact size
    is not documented: the model runs with N and with N + 2 periods.
[MISSING] Same section: "If no data points in the evaluation range are missing, CloudWatch evaluates the alarm
    based on the most recent data points collected"; if some are missing but "the number of existing data points
    retrieved is equal to or more than the alarm's Evaluation Periods, CloudWatch evaluates the alarm state based on
    the most recent existing data points"; otherwise it "fills in the missing data points with the result you
    specified for how to treat missing data ... any real data points in the evaluation range, no matter when they
    were reported, are included ... In all of these situations, the number of datapoints evaluated is equal to the
    value of Evaluation Periods. If fewer than the value of Datapoints to Alarm are breaching, the alarm state is
    set to OK. Otherwise, the state is set to ALARM." `notBreaching`: "Missing data points are treated as being
    within the threshold". `test_the_model_reproduces_the_documented_missing_data_tables` checks the model against
    that page's tables.
[M_OF_N] `EvaluationPeriods` is N; `DatapointsToAlarm` is M "used only if you are setting an 'M out of N'
    alarm" - without it M = N, N consecutive breaching periods (PutMetricAlarm API reference; "Evaluating an alarm").
[ACTIONS] "Alarms invoke actions for sustained state changes only ... For Amazon SNS notifications, no additional
    actions are invoked" (CloudWatch User Guide, "Using Amazon CloudWatch alarms"): SNS is notified when the alarm
    goes to ALARM, and not again until it has been OK. The alarm starts in OK: it has existed longer than its
    evaluation range, with no data (notBreaching).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from evaluators import metric_filter
from timeline import Delivered

MINUTE = 60
#: [LATENCY] assumed time from ingestion to a datapoint visible to the alarm.
METRIC_LATENCY = timedelta(minutes=1)
#: [EVALUATION] offsets of the every-minute evaluations from the whole minute.
PHASES = (0, 17, 41)
#: [RANGE] evaluation range beyond EvaluationPeriods, in periods: the documented minimum (0) and the example's (2).
EXTRA_RANGE = (0, 2)
#: [STAMP] the two readings of a datapoint's timestamp.
STAMPS = ("delivery", "event")

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def _seconds(when: datetime) -> int:
    return int(when.astimezone(timezone.utc).timestamp())


@dataclass(frozen=True)
class Alarm:
    """One AWS::CloudWatch::Alarm of the template with the stack's parameters resolved, and its metric filter."""

    name: str
    filter_pattern: str
    metric_value: float
    statistic: str
    period: int
    evaluation_periods: int  # N
    datapoints_to_alarm: int  # M
    threshold: float
    comparison: str
    treat_missing_data: str

    @classmethod
    def from_template(cls, doc: dict, metric_name: str, parameters: dict | None = None) -> "Alarm":
        params = {name: p.get("Default") for name, p in doc["Parameters"].items()} | (parameters or {})

        def ref(v):
            return params[v["Ref"]] if isinstance(v, dict) and set(v) == {"Ref"} else v

        resources = doc["Resources"].values()
        (alarm,) = [r["Properties"] for r in resources if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == metric_name]
        (mf,) = [
            r["Properties"]
            for r in resources
            if r["Type"] == "AWS::Logs::MetricFilter" and r["Properties"]["MetricTransformations"][0]["MetricName"] == metric_name
        ]
        (transformation,) = mf["MetricTransformations"]
        assert "DefaultValue" not in transformation and "Dimensions" not in alarm, "the model publishes nothing on no match"
        assert ref(transformation["MetricNamespace"]) == ref(alarm["Namespace"])
        n = int(ref(alarm["EvaluationPeriods"]))
        return cls(
            name=metric_name,
            filter_pattern=mf["FilterPattern"],
            metric_value=float(transformation["MetricValue"]),
            statistic=alarm["Statistic"],
            period=int(ref(alarm["Period"])),
            evaluation_periods=n,
            datapoints_to_alarm=int(ref(alarm["DatapointsToAlarm"])) if "DatapointsToAlarm" in alarm else n,  # [M_OF_N]
            threshold=float(ref(alarm["Threshold"])),
            comparison=alarm["ComparisonOperator"],
            treat_missing_data=alarm.get("TreatMissingData", "missing"),
        )

    @property
    def window(self) -> int:
        """N x Period: the alarm window, and how far before a notification the analyst's query starts."""
        return self.evaluation_periods * self.period


@dataclass(frozen=True)
class Reading:
    """One reading of what AWS leaves open: the datapoint's timestamp, the evaluation range, the evaluation phase."""

    stamp: str  # "delivery" or "event" [STAMP]
    extra_range: int  # periods beyond N that an evaluation retrieves [RANGE]
    phase: int  # seconds after the whole minute [EVALUATION]

    def __str__(self) -> str:
        return f"stamp={self.stamp},range=N+{self.extra_range},phase={self.phase}s"


READINGS = tuple(Reading(s, r, p) for s in STAMPS for r in EXTRA_RANGE for p in PHASES)


@dataclass(frozen=True)
class Datapoint:
    event_id: str
    timestamp: int  # seconds since the epoch [STAMP]
    visible: int  # when an evaluation can see it [LATENCY]
    ingested: int  # when the log event is in the log group (a query can find it)
    value: float


@dataclass(frozen=True)
class Notification:
    """One SNS notification: the alarm went OK -> ALARM at `sent` and was OK again at `until`."""

    sent: int
    until: int
    cause: str  # the event whose datapoint became visible last before the transition
    evaluated: frozenset[str]  # events whose datapoints were in the evaluation range at `sent`
    window_start: int  # sent - N x Period: where the saved query's time range starts (deploy guide)

    def shows(self, point: Datapoint) -> bool:
        """The saved query run from `window_start` until the alarm is OK again finds the event."""
        return self.window_start <= point.timestamp < self.until and point.ingested <= self.until


def datapoints(alarm: Alarm, deliveries: Iterable[Delivered], reading: Reading) -> list[Datapoint]:
    """[FILTER] one datapoint per matching log event, stamped [STAMP] and visible [LATENCY]."""
    pattern = metric_filter.parse(alarm.filter_pattern)
    points = []
    for d in deliveries:
        if pattern.matches(d.record):
            stamp = d.ingested if reading.stamp == "delivery" else d.event_time
            points.append(
                Datapoint(d.event_id, _seconds(stamp), _seconds(d.ingested + METRIC_LATENCY), _seconds(d.ingested), alarm.metric_value)
            )
    return points


def alarm_state(alarm: Alarm, sums: list[float | None]) -> str:
    """[MISSING] [M_OF_N] The state one evaluation sets, from the period values of the evaluation range, newest first
    (None: no datapoint in that period)."""
    if alarm.treat_missing_data != "notBreaching":
        raise NotImplementedError("the template treats missing data as notBreaching; other settings are not modelled")
    if alarm.statistic != "Sum":
        raise NotImplementedError(f"statistic {alarm.statistic} is not modelled")
    existing = [v for v in sums if v is not None]
    n = alarm.evaluation_periods
    evaluated: list[float | None] = existing[:n] if len(existing) >= n else existing + [None] * (n - len(existing))
    breaching = sum(1 for v in evaluated if v is not None and _COMPARE[alarm.comparison](v, alarm.threshold))
    return "ALARM" if breaching >= alarm.datapoints_to_alarm else "OK"


def run(alarm: Alarm, points: list[Datapoint], reading: Reading) -> list[Notification]:
    """Every evaluation that can change the state [EVALUATION], and the notifications they send [ACTIONS]."""
    span = (alarm.evaluation_periods + reading.extra_range) * alarm.period  # [RANGE]

    def first_tick(at: int) -> int:
        return at + (reading.phase - at) % MINUTE

    ticks: set[int] = set()
    for p in points:
        # from when it is visible to the first evaluation after it left the range: every evaluation it can affect
        ticks.update(range(first_tick(p.visible), first_tick(p.timestamp + span + 1) + 1, MINUTE))
    notifications: list[Notification] = []
    state, open_since, cause, evaluated = "OK", 0, "", frozenset()
    for t in sorted(ticks):
        seen = [p for p in points if p.visible <= t and t - span <= p.timestamp < t]
        sums: list[float | None] = [None] * (span // alarm.period)
        for p in seen:
            k = (t - 1 - p.timestamp) // alarm.period  # 0: the period that ends at this evaluation
            sums[k] = (sums[k] or 0.0) + p.value  # [PERIOD]
        new = alarm_state(alarm, sums)
        if new == "ALARM" and state == "OK":
            open_since = t
            cause = max(seen, key=lambda p: (p.visible, p.timestamp, p.event_id)).event_id
            evaluated = frozenset(p.event_id for p in seen)
        elif new == "OK" and state == "ALARM":
            notifications.append(Notification(open_since, t, cause, evaluated, open_since - alarm.window))
        state = new
    assert state == "OK", "every datapoint leaves the range, so the alarm ends in OK"
    return notifications


def bursts(event_times: dict[str, datetime], gap: timedelta) -> list[frozenset[str]]:
    """Attack events grouped by event time: a new burst starts after more than `gap` without one."""
    groups: list[set[str]] = []
    last: datetime | None = None
    for event_id, when in sorted(event_times.items(), key=lambda item: (item[1], item[0])):
        if last is None or when - last > gap:
            groups.append(set())
        groups[-1].add(event_id)
        last = when
    return [frozenset(g) for g in groups]
