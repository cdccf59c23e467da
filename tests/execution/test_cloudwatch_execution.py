"""The CloudFormation template's metric filter -> alarm -> SNS path as CloudWatch runs it (cloudwatch_model, each
step cited there), replayed over every fixture file delivered 0-15 minutes late (timeline.SCENARIOS), under every
reading of what AWS leaves open (cloudwatch_model.READINGS: the datapoint stamped with the delivery time, as
CloudTrail documents, or with the event time; an evaluation range of N or N + 2 periods; evaluations on the minute
or a few seconds after it). What counts is what reaches the analyst: SNS notifications, and the saved query run
over the window the deploy guide gives (from the notification minus EvaluationPeriods x Period until the alarm is
OK again).

Asserted per rule with a metric filter and per scenario, from fixtures/manifest.yml only, with the template's
default parameters:
* every attack event is behind a notification whose window holds it - its own, or one sent for an earlier event
  while the alarm was still in ALARM (the documented bound: no second notification, the saved query shows it);
* no notification without an attack event;
* one burst of attack events (gaps of at most BURST_GAP) leads to one notification.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

import pytest
import yaml

from cloudtrail_pack.pack import pack_version
from cloudtrail_pack.artifacts import cloudwatch as cw
from cloudtrail_pack.pack import load_pack
from cloudwatch_model import READINGS, Alarm, Notification, Reading, alarm_state, bursts, datapoints, run
from timeline import CASES, MAX_DELAY, SCENARIOS, Case, Delivered

PACK = load_pack()
DETECTIONS = cw.collect(PACK)
#: The template as shipped: written, then read back.
TEMPLATE = yaml.safe_load(cw.dump_yaml(cw.template(DETECTIONS, pack_version())))
NAMES = cw.logical_names(PACK.rules)
ALARMED = [d.rule for d in DETECTIONS if d.filter_pattern is not None]
#: Attack events this close together are one incident, which must reach the analyst as one notification.
BURST_GAP = timedelta(minutes=10)


@cache
def replay(rule_id: str, case_index: int, reading: Reading) -> tuple:
    alarm = Alarm.from_template(TEMPLATE, NAMES[rule_id])
    points = datapoints(alarm, CASES[case_index].events, reading)
    return alarm, points, run(alarm, points, reading)


def cases(scenario) -> list[int]:
    return [i for i, case in enumerate(CASES) if case.scenario is scenario]


def where(case: Case, reading: Reading) -> str:
    return f"{case.id} [{reading}]"


parametrize = pytest.mark.parametrize
by_rule = parametrize("rule", ALARMED, ids=lambda r: r.slug)
by_scenario = parametrize("scenario", SCENARIOS, ids=str)


@by_rule
@by_scenario
def test_every_attack_event_is_behind_a_notification(rule, scenario):
    missed = []
    for i in cases(scenario):
        expected = CASES[i].expected_events(rule.id)
        for reading in READINGS:
            _, points, notifications = replay(rule.id, i, reading)
            by_id = {p.event_id: p for p in points}
            for event in sorted(expected):
                if event not in by_id:
                    missed.append(f"{where(CASES[i], reading)}: {event} does not match the metric filter")
                elif not any(n.shows(by_id[event]) for n in notifications):
                    missed.append(f"{where(CASES[i], reading)}: {event} is behind no notification")
    assert missed == []


@by_rule
@by_scenario
def test_no_notification_without_an_attack_event(rule, scenario):
    unexpected = []
    for i in cases(scenario):
        expected = CASES[i].expected_events(rule.id)
        for reading in READINGS:
            for n in replay(rule.id, i, reading)[2]:
                if not n.evaluated or not n.evaluated <= expected:
                    unexpected.append(f"{where(CASES[i], reading)}: notification for {sorted(n.evaluated - expected)}")
    assert unexpected == []


@by_rule
@by_scenario
def test_one_burst_leads_to_one_notification(rule, scenario):
    repeated = []
    for i in cases(scenario):
        case = CASES[i]
        times = {d.event_id: d.event_time for d in case.events if d.event_id in case.expected_events(rule.id)}
        for reading in READINGS:
            notifications = replay(rule.id, i, reading)[2]
            for burst in bursts(times, BURST_GAP):
                sent = [n.sent for n in notifications if n.cause in burst]
                if len(sent) > 1:
                    repeated.append(f"{where(case, reading)}: burst {sorted(burst)} notified {len(sent)} times")
    assert repeated == []


# --- the model itself --------------------------------------------------------------------------------------------


def alarm(period: int = 300, n: int = 3, m: int = 3) -> Alarm:
    return Alarm("Test", '{ $.eventName = "DeleteUser" }', 1.0, "Sum", period, n, m, 1.0, "GreaterThanOrEqualToThreshold", "notBreaching")


@parametrize(
    "m, points, state",
    [
        # "How alarm state is evaluated when data is missing": 5 data points retrieved for 3 evaluation periods,
        # oldest first (0 not breaching, X breaching, - missing), column NOT BREACHING of each table
        (3, "0 - X - X", "OK"),
        (3, "0 - - - -", "OK"),
        (3, "- - - - -", "OK"),
        (3, "0 X X - X", "ALARM"),
        (3, "- - - - X", "OK"),
        (3, "X - - - -", "OK"),
        (2, "0 - X - X", "ALARM"),
        (2, "0 0 X 0 X", "ALARM"),
        (2, "0 - X - -", "OK"),
        (2, "- - - - 0", "OK"),
        (2, "- - - - X", "OK"),
    ],
)
def test_the_model_reproduces_the_documented_missing_data_tables(m, points, state):
    values = {"0": 0.0, "X": 1.0, "-": None}
    newest_first = [values[c] for c in reversed(points.split())]
    assert alarm_state(alarm(n=3, m=m), newest_first) == state


T0 = datetime(2026, 11, 23, 10, 0, 3, tzinfo=timezone.utc)


def delivered(event_id: str, at: datetime, delay: timedelta) -> Delivered:
    record = {"eventID": event_id, "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser", "eventTime": at.isoformat()}
    return Delivered(record, at, at + delay)


def shipped_alarm(slug: str) -> Alarm:
    return Alarm.from_template(TEMPLATE, NAMES[PACK.by_id(slug).id])


def notify(a: Alarm, events: list[Delivered], reading: Reading) -> list[Notification]:
    return run(a, datapoints(a, events, reading), reading)


def test_a_one_period_alarm_misses_an_event_stamped_15_minutes_before_it_arrives():
    """Why EvaluationPeriods is not 1 x 300 s: a datapoint stamped at event time and visible 16 minutes later is
    already outside a 5-minute window at every evaluation that can see it."""
    late = [delivered("e1", T0, MAX_DELAY)]
    event_stamp = Reading("event", 0, 0)
    assert notify(alarm(300, 1, 1), late, event_stamp) == []
    shipped = shipped_alarm("aws_iam_user_deleted")
    assert [n.cause for n in notify(shipped, late, event_stamp)] == ["e1"]


def test_a_one_period_alarm_notifies_one_burst_twice():
    """Two deletions a minute apart, one delivered at once, one 15 minutes late: a 5-minute window goes back to OK
    in between and notifies again; the shipped 30-minute window notifies once."""
    burst = [delivered("e1", T0, timedelta(0)), delivered("e2", T0 + timedelta(minutes=1), MAX_DELAY)]
    delivery_stamp = Reading("delivery", 0, 0)
    assert [n.cause for n in notify(alarm(300, 1, 1), burst, delivery_stamp)] == ["e1", "e2"]
    shipped = shipped_alarm("aws_iam_user_deleted")
    assert [n.cause for n in notify(shipped, burst, delivery_stamp)] == ["e1"]


def test_notifications_are_sent_on_the_transition_to_alarm_only():
    """Deletions every two minutes for an hour keep the alarm in ALARM: one notification, whose window and
    duration hold all of them."""
    stream = [delivered(f"e{i}", T0 + timedelta(minutes=2 * i), timedelta(minutes=5)) for i in range(30)]
    shipped = shipped_alarm("aws_iam_user_deleted")
    (only,) = notify(shipped, stream, Reading("delivery", 0, 0))
    points = datapoints(shipped, stream, Reading("delivery", 0, 0))
    assert all(only.shows(p) for p in points)
    # the first datapoint (stamped 10:05:03, on delivery) is visible at 10:06:03, seen at 10:07:00; the last one,
    # stamped 11:03:03, leaves the 30-minute window at the evaluation after 11:33:03
    assert (utc(only.sent), utc(only.until)) == ("10:07:00", "11:34:00")


def utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%H:%M:%S")
