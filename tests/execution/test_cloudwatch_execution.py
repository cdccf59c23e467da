"""The CloudFormation template's metric filter -> alarm -> SNS path as CloudWatch runs it (cloudwatch_model, each
step cited there), replayed over every fixture file delivered 0-15 minutes late (timeline.SCENARIOS), under every
reading of what AWS leaves open (cloudwatch_model.READINGS: the datapoint stamped with the delivery time, as
CloudTrail documents, or with the event time; an evaluation range of N or N + 2 periods; evaluations on the minute
or a few seconds after it). What counts is what reaches the analyst: SNS notifications, and the saved query run
over the window the deploy guide gives (from the notification minus EvaluationPeriods x Period until the alarm is
OK again).

Each rule with a metric filter has two alarms, one for its successful calls and one for its failed ones (an
errorCode: `cw.OUTCOMES`). Asserted per alarm and per scenario (one test that replays each case once and names the
property that fails), from fixtures/manifest.yml only (the attack events
of the alarm's outcome), with the template's default parameters:
* every attack event is behind a notification of its outcome's alarm whose window holds it - its own, or one sent
  for an earlier event while the alarm was still in ALARM (the documented bound: no second notification, the saved
  query shows it);
* no notification without an attack event of that outcome;
* one burst of attack events of one outcome (gaps of at most BURST_GAP) leads to one notification.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from release_helpers import release_for

from cloudtrail_pack.pack import pack_version
from cloudtrail_pack.artifacts import cloudwatch as cw
from cloudtrail_pack.pack import load_pack
from cloudwatch_model import READINGS, Alarm, Notification, Reading, alarm_state, bursts, datapoints, run
from timeline import CASES, MAX_DELAY, SCENARIOS, Case, Delivered

PACK = load_pack()
DETECTIONS = cw.collect(release_for(PACK, cw))
#: The template as shipped: written, then read back.
TEMPLATE = yaml.safe_load(cw.dump_yaml(cw.template(DETECTIONS, pack_version())))
NAMES = cw.logical_names(PACK.rules)
ALARMED = [d.rule for d in DETECTIONS if d.filter_pattern is not None]
#: (rule, its alarm's metric name, whether the alarm counts failed calls), per outcome.
ALARMS = [(rule, NAMES[rule.id] + suffix, failed) for rule in ALARMED for suffix, _, failed in cw.OUTCOMES]
#: Attack events this close together are one incident, which must reach the analyst as one notification.
BURST_GAP = timedelta(minutes=10)


def replay(metric: str, case_index: int, reading: Reading) -> tuple:
    alarm = Alarm.from_template(TEMPLATE, metric)
    points = datapoints(alarm, CASES[case_index].events, reading)
    return alarm, points, run(alarm, points, reading)


def expected(case: Case, rule, failed: bool) -> frozenset[str]:
    """The attack events of the case that the alarm of this outcome must notify about."""
    attacks = case.expected_events(rule.id)
    return frozenset(d.event_id for d in case.events if d.event_id in attacks and (d.record.get("errorCode") is not None) == failed)


def cases(scenario) -> list[int]:
    return [i for i, case in enumerate(CASES) if case.scenario is scenario]


def where(case: Case, reading: Reading) -> str:
    return f"{case.id} [{reading}]"


parametrize = pytest.mark.parametrize
by_alarm = parametrize("rule, metric, failed", ALARMS, ids=[metric for _, metric, _ in ALARMS])
by_scenario = parametrize("scenario", SCENARIOS, ids=str)


def failures(case: Case, rule, failed: bool, reading: Reading, replayed: tuple) -> dict[str, list[str]]:
    """{property: what breaks it} for one alarm's replay of one case under one reading (empty lists: it holds)."""
    _, points, notifications = replayed
    attacks = expected(case, rule, failed)
    here = where(case, reading)
    by_id = {p.event_id: p for p in points}
    missed = [f"{here}: {event} does not match the metric filter" for event in sorted(attacks) if event not in by_id]
    missed += [f"{here}: {event} is behind no notification" for event in sorted(attacks)
               if event in by_id and not any(n.shows(by_id[event]) for n in notifications)]
    times = {d.event_id: d.event_time for d in case.events if d.event_id in attacks}
    repeated = []
    for burst in bursts(times, BURST_GAP):
        sent = [n.sent for n in notifications if n.cause in burst]
        if len(sent) > 1:
            repeated.append(f"{here}: burst {sorted(burst)} notified {len(sent)} times")
    return {
        "an attack event is behind no notification": missed,
        "a notification without an attack event": [
            f"{here}: notification for {sorted(n.evaluated - attacks)}"
            for n in notifications if not n.evaluated or not n.evaluated <= attacks
        ],
        "one burst notified more than once": repeated,
    }


# One test per alarm and scenario: each replay is computed once and every property is asserted on it.
@by_alarm
@by_scenario
def test_every_attack_event_is_behind_one_notification_per_burst_and_nothing_else(rule, metric, failed, scenario):
    found: dict[str, list[str]] = {}
    for i in cases(scenario):
        for reading in READINGS:
            for prop, what in failures(CASES[i], rule, failed, reading, replay(metric, i, reading)).items():
                found.setdefault(prop, []).extend(what)
    assert {prop: what for prop, what in found.items() if what} == {}


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


def shipped_alarm(slug: str, outcome: str = "Succeeded") -> Alarm:
    return Alarm.from_template(TEMPLATE, NAMES[PACK.by_id(slug).id] + outcome)


def test_the_two_alarms_of_a_rule_split_its_events_by_outcome():
    """A denied attempt notifies through the Failed alarm, a successful call through the Succeeded one."""
    ok = delivered("e1", T0, timedelta(0))
    denied = Delivered({**ok.record, "eventID": "e2", "errorCode": "AccessDenied"}, T0, T0)
    reading = Reading("delivery", 0, 0)
    assert [n.cause for n in notify(shipped_alarm("aws_iam_user_deleted"), [ok, denied], reading)] == ["e1"]
    assert [n.cause for n in notify(shipped_alarm("aws_iam_user_deleted", "Failed"), [ok, denied], reading)] == ["e2"]


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
