"""The Splunk app as Splunk runs it: every saved search of the built .tgz, replayed by splunk_model over
each fixture file delivered 0-15 minutes late (timeline.SCENARIOS) and up to 24 hours late (LATE: a backlog
between CloudTrail, S3 and the add-on), with the run starting on time, as late as `schedule_window` allows,
and skewed by `allow_skew` (with its time range or without). What counts is what reaches the analyst:
Enterprise Security's notable events, one per result that alert suppression lets through.

Asserted per saved search and scenario, from fixtures/manifest.yml only:
* every attack event is carried by a notable, or was folded by suppression into an earlier notable with
  the same suppression key (the documented per-result throttling, docs/splunk.md "Throttling"), never
  into one of another outcome (errorCode);
* no notable carries an event the rule must not alert on, and no event is in two notables;
* every event a base rule's search expression matches is read by exactly one run (index-time windows);
* a correlation raises exactly one notable per expected burst and none for anything else, however late and
  in whatever order its events arrive.
"""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from release_helpers import release_for

from cloudtrail_pack.artifacts import splunk
from cloudtrail_pack.artifacts.splunk import APP_ID, write_splunk_app
from cloudtrail_pack.pack import load_pack
from evaluators.spl import SplunkEvaluator, parse_conf
from splunk_model import Cron, ModelError, Replay, SavedSearch, TimeModifier, replay
from timeline import CASES, Case, Delivered, Scenario, _unit, alerts_per_event, burst_alerts, event_time

RULES = [r for r in load_pack().rules if not r.step_only]  # the app's searches (a step's is in its correlation's)
BASE = [r for r in RULES if not r.is_correlation]
CORRELATIONS = [r for r in RULES if r.is_correlation]


@pytest.fixture(scope="module")
def app(pack, tmp_path_factory) -> dict[str, str]:
    """The app's conf files, read back from the .tgz a release writes."""
    path = write_splunk_app(release_for(pack, splunk), tmp_path_factory.mktemp("splunk-execution"))
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        return {
            m.name[len(APP_ID) + 1 :]: tar.extractfile(m).read().decode("utf-8")
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.fixture(scope="module")
def shipped(app) -> tuple[dict[str, SavedSearch], SplunkEvaluator]:
    """{rule slug: the saved search that runs it}, and an evaluator with the app's macros."""
    stanzas = parse_conf(app["default/savedsearches.conf"])
    by_slug = {}
    for rule in RULES:
        (name,) = [n for n, s in stanzas.items() if s["search"].endswith(f"| `cloudtrail_detection_pack_{rule.slug}_filter`")]
        by_slug[rule.slug] = SavedSearch.from_stanza(name, stanzas[name])
    return by_slug, SplunkEvaluator.from_macros_conf(app["default/macros.conf"])


def starts(saved: SavedSearch) -> tuple[tuple[timedelta, timedelta, bool], ...]:
    """(dispatch delay, skew, skew moves the time range): on time; as late as a schedule window allows (less than
    one period [SPEC]), skewed or not; skewed as far as allow_skew allows, the time range moved with the start."""
    late = saved.cron.longest_gap - timedelta(minutes=1)
    return ((timedelta(0), timedelta(0), False), (late, saved.allow_skew, False), (timedelta(0), saved.allow_skew, True))


#: The longest delay the Splunk app promises (schedule.MAX_DELAY_HOURS): a backlog of hours is common.
BACKLOG = timedelta(hours=24)
LATE: tuple[Scenario, ...] = (
    Scenario("delay-24h", lambda r, i, n: BACKLOG),
    Scenario("jitter-0-24h", lambda r, i, n: BACKLOG * _unit(r)),
    # the first events of the file arrive last, a day after the newest
    Scenario("reversed-24h", lambda r, i, n: BACKLOG * ((n - 1 - i) / max(n - 1, 1))),
    # half the file on time, the other half a day later: a burst split across the backlog
    Scenario("split-24h", lambda r, i, n: BACKLOG if i % 2 else timedelta(0)),
)


def deliver_late(fixture, scenario: Scenario) -> Case:
    by_time = sorted(fixture.records, key=event_time)
    events = []
    for i, record in enumerate(by_time):
        delay = scenario.delay(record, i, len(by_time))
        assert timedelta(0) <= delay <= BACKLOG
        events.append(Delivered(record, event_time(record), event_time(record) + delay))
    return Case(fixture, scenario, tuple(sorted(events, key=lambda d: (d.ingested, d.event_time, d.event_id))))


#: The fixture files with their cases (one per delivery scenario), timeline.CASES then LATE.
FILES = sorted({str(c.fixture.path) for c in CASES})
CASES_OF = {f: [c for c in CASES if str(c.fixture.path) == f] for f in FILES}
CASES_OF = {f: cases + [deliver_late(cases[0].fixture, s) for s in LATE] for f, cases in CASES_OF.items()}


def replays(shipped, rule, fixture: str) -> dict[str, tuple[Case, Replay]]:
    """{"<scenario>, start +<delay> skew <skew>": (case, what the saved search did)} for every scenario and start."""
    searches, evaluator = shipped
    saved = searches[rule.slug]
    return {
        f"{case.scenario}, start +{delay} skew {skew}{' (range moved)' if moved else ''}": (
            case, replay(saved, evaluator, list(case.events), delay, skew, moved)
        )
        for case in CASES_OF[fixture]
        for delay, skew, moved in starts(saved)
    }


def carried(r: Replay) -> set[str]:
    return set().union(*(n.events for n in r.notables)) | set(r.folded)


def base_rule_failures(rule, case: Case, r: Replay) -> dict[str, list]:
    """{property: what breaks it} for a single-event rule's replay of one case (empty lists: it holds)."""
    expected = case.expected_events(rule.id)
    outcome = {d.event_id: d.record.get("errorCode") for d in case.events}
    in_notables = set().union(*(n.events for n in r.notables))
    return {
        "an attack event reaches no analyst": sorted(expected - carried(r)),
        # a denied attempt and a successful call are different news for the analyst (errorCode)
        "suppression folds an event into a notable of another outcome": [
            (e, sorted(n.events)) for e, n in r.folded.items() if {outcome[x] for x in n.events} != {outcome[e]}
        ],
        "a notable carries an event the rule must not alert on": sorted(carried(r) - expected),
        # overlapping runs find an event again; suppression must keep it to one notable
        "an event reaches the analyst twice": sorted(e for e, n in alerts_per_event(r.notables).items() if n > 1)
        + sorted(set(r.folded) & in_notables),
        # index-time windows: each event read by one run, whenever it arrives
        "an attack event is not read by exactly one run": sorted(e for e in expected if r.searched.get(e) != 1),
        "an event is read by several runs": sorted(e for e, n in r.searched.items() if n > 1),
    }


def correlation_failures(rule, case: Case, r: Replay) -> dict[str, list]:
    bursts = case.expected_bursts(rule.id)
    counts = [len(burst_alerts(r.notables, b)) for b in bursts]
    return {
        "a burst does not raise exactly one notable": [
            f"{n} notables for burst {sorted(b.events)}" for n, b in zip(counts, bursts) if n != 1
        ],
        "a notable outside every expected burst": [
            sorted(n.events) for n in r.notables if not any(burst_alerts([n], b) for b in bursts)
        ],
    }


def broken(shipped, rule, fixture: str, check) -> dict[str, dict]:
    """{property: {"<scenario>, start +<delay>": what breaks it}} over every replay of the rule on the file."""
    found: dict[str, dict] = {}
    for where, (case, r) in replays(shipped, rule, fixture).items():
        for prop, what in check(rule, case, r).items():
            if what:
                found.setdefault(prop, {})[where] = what
    return found


# One test per rule and fixture file: each replay is computed once and every property is asserted on it.
@pytest.mark.parametrize("fixture", FILES)
@pytest.mark.parametrize("rule", BASE, ids=[r.slug for r in BASE])
def test_a_single_event_rule_brings_each_attack_event_to_the_analyst_once_and_nothing_else(shipped, rule, fixture):
    assert broken(shipped, rule, fixture, base_rule_failures) == {}


@pytest.mark.parametrize("fixture", FILES)
@pytest.mark.parametrize("rule", CORRELATIONS, ids=[r.slug for r in CORRELATIONS])
def test_correlation_raises_one_notable_per_burst(shipped, rule, fixture):
    assert broken(shipped, rule, fixture, correlation_failures) == {}


def test_the_replay_covers_every_scenario_and_fixture():
    """The parametrization above is over rules and files; each test replays timeline.SCENARIOS and LATE."""
    assert sum(len(v) for v in CASES_OF.values()) == len(CASES) + len(FILES) * len(LATE) > 0
    assert max(d.delay for cases in CASES_OF.values() for c in cases for d in c.events) == BACKLOG


# --- suppression, one behaviour each ------------------------------------------------------------------

USER_DELETED = "aws_iam_user_deleted"
ARN = "arn:aws:iam::111122223333:user/intruder"


def delete_user(event_id: str, minute: int, error: str | None, user: str = "alice", delay: int = 2) -> Delivered:
    record = {
        "eventVersion": "1.10", "eventID": event_id, "eventTime": f"2026-11-23T10:{minute:02d}:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser", "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333", "userIdentity": {"type": "IAMUser", "arn": ARN},
        "requestParameters": {"userName": user},
    }
    if error:
        record["errorCode"] = error
    t = datetime(2026, 11, 23, 10, minute, tzinfo=timezone.utc)
    return Delivered(record, t, t + timedelta(minutes=delay))


def notables(shipped, events: list[Delivered]) -> list[list[str]]:
    """The events of each notable, in event order."""
    searches, evaluator = shipped
    r = replay(searches[USER_DELETED], evaluator, events, timedelta(0))
    return sorted(sorted(n.events) for n in r.notables)


def test_denied_attempt_then_success_on_the_same_user_are_two_notables(shipped):
    """The outcome is part of the suppression key: the success must not hide behind the denial."""
    events = [delete_user("denied", 1, "AccessDenied"), delete_user("deleted", 4, None)]
    assert notables(shipped, events) == [["deleted"], ["denied"]]


def test_the_same_denied_call_repeated_within_the_hour_is_one_notable(shipped):
    """What suppression does fold: the same actor, target, account and outcome within alert.suppress.period."""
    searches, evaluator = shipped
    events = [delete_user("try-1", 1, "AccessDenied"), delete_user("try-2", 20, "AccessDenied")]
    r = replay(searches[USER_DELETED], evaluator, events, timedelta(0))
    assert [set(n.events) for n in r.notables] == [{"try-1"}]
    assert set(r.folded) == {"try-2"}


def test_an_event_15_minutes_late_still_reaches_the_analyst(shipped):
    assert notables(shipped, [delete_user("late", 1, None, delay=15)]) == [["late"]]


# --- the model's reading of the settings ----------------------------------------------------------------


def test_time_range_is_an_offset_from_the_scheduled_time_snapped_to_the_minute():
    scheduled = datetime(2026, 11, 23, 10, 10, 37, tzinfo=timezone.utc)  # a run scheduled off the minute
    assert TimeModifier.parse("-30m@m").at(scheduled) == datetime(2026, 11, 23, 9, 40, tzinfo=timezone.utc)
    assert TimeModifier.parse("-5m@m").at(scheduled) == datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc)


def test_every_ten_minutes_runs_on_the_clock():
    cron = Cron.parse("*/10 * * * *")
    start = datetime(2026, 11, 23, 9, 55, tzinfo=timezone.utc)
    assert [t.strftime("%H:%M") for t in cron.times(start, start + timedelta(minutes=30))] == [
        "10:00", "10:10", "10:20",
    ]
    assert cron.longest_gap == timedelta(minutes=10)


def test_model_refuses_a_schedule_it_does_not_know():
    with pytest.raises(ModelError):
        Cron.parse("0 */2 * * *")


# --- late events, one property each (hypothesis): delays up to 24 hours, any start the scheduler allows ------

DAY = 24 * 3600
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
LATE_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


def call(event_id: str, name: str, at: timedelta, delay: int, user: str = "alice", source: str = "iam.amazonaws.com") -> Delivered:
    """One IAM call by ARN at T0 + `at`, indexed `delay` seconds later."""
    t = T0 + at
    record = {
        "eventVersion": "1.10", "eventID": event_id, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333", "userIdentity": {"type": "IAMUser", "arn": ARN},
        "requestParameters": {"userName": user},
    }
    return Delivered(record, t, t + timedelta(seconds=delay))


def every_start(shipped, slug: str, events: list[Delivered]) -> list[Replay]:
    searches, evaluator = shipped
    saved = searches[slug]
    return [replay(saved, evaluator, events, delay, skew, moved) for delay, skew, moved in starts(saved)]


@LATE_SETTINGS
@given(at=st.integers(0, 3600), delay=st.integers(0, DAY))
@example(at=0, delay=0)
@example(at=0, delay=DAY)  # the longest delay promised
@example(at=0, delay=60)  # indexed at 10:01:00, the very instant one run's index window ends and the next one's starts
@example(at=0, delay=59)  # a second before it
@example(at=59, delay=DAY)
def test_a_base_rule_reads_an_event_once_however_late_it_is_indexed(shipped, at, delay):
    event = call("late", "DeleteUser", timedelta(seconds=at), delay)
    for r in every_start(shipped, USER_DELETED, [event]):
        assert r.searched == {"late": 1}
        assert [sorted(n.events) for n in r.notables] == [["late"]]


def test_an_event_indexed_after_the_event_time_range_is_not_read(shipped):
    """The promise has an end: an event indexed more than a day after the call (plus the range's rounding) is
    outside every run's event-time range (`dispatch.earliest_time`)."""
    event = call("too-late", "DeleteUser", timedelta(0), 26 * 3600)
    for r in every_start(shipped, USER_DELETED, [event]):
        assert r.searched == {} and r.notables == []


MASS = "aws_iam_user_deleted_mass"
SEQUENCE = "aws_iam_user_credentials_removed_then_deleted"


def one_notable_per_group(replays: list[Replay]) -> list[int]:
    return [len(r.notables) for r in replays if len(r.notables) != 1 or len(r.notables[0].group) == 0]


@LATE_SETTINGS
@given(
    times=st.lists(st.integers(0, 600), min_size=3, max_size=5).map(sorted),
    delays=st.lists(st.integers(0, DAY), min_size=5, max_size=5),
)
@example(times=[0, 300, 600], delays=[0, 0, 0, 0, 0])  # the window's two ends, all on time
@example(times=[0, 300, 600], delays=[DAY, 0, 0, 0, 0])  # the first deletion a day late: it completes the burst
@example(times=[0, 1, 2, 3], delays=[DAY, DAY // 2, 0, 600, 0])  # arriving newest first, hours apart
@example(times=[5, 5, 5], delays=[0, DAY, 0, 0, 0])  # one second
@example(times=[0, 100, 200, 300, 400], delays=[0, 0, 0, DAY, DAY])  # reported, then two more a day later
def test_a_burst_raises_one_notable_however_its_events_arrive(shipped, times, delays):
    """Each deletion is read once, but the run that completes the burst sees the earlier ones (old events): one
    notable, by the run that completes it; later arrivals of the same burst raise none (issue 20)."""
    events = [call(f"del-{i}", "DeleteUser", timedelta(seconds=t), d, user=f"u{i}") for i, (t, d) in enumerate(zip(times, delays))]
    assert one_notable_per_group(every_start(shipped, MASS, events)) == []
    assert all(r.notables == [] for r in every_start(shipped, MASS, events[:2]))  # two deletions: none


@LATE_SETTINGS
@given(gap=st.integers(0, 600), removal_delay=st.integers(0, DAY), deletion_delay=st.integers(0, DAY))
@example(gap=0, removal_delay=0, deletion_delay=0)  # the same second (issue 20)
@example(gap=0, removal_delay=DAY, deletion_delay=0)  # the same second, the removal a day late
@example(gap=600, removal_delay=DAY, deletion_delay=0)
@example(gap=34, removal_delay=0, deletion_delay=DAY)
def test_credentials_removed_then_deleted_raises_one_notable_however_late(shipped, gap, removal_delay, deletion_delay):
    events = [
        call("key", "DeleteAccessKey", timedelta(0), removal_delay, user="nora"),
        call("del", "DeleteUser", timedelta(seconds=gap), deletion_delay, user="nora"),
    ]
    replays = every_start(shipped, SEQUENCE, events)
    assert one_notable_per_group(replays) == []
    assert all(n.events == {"key", "del"} for r in replays for n in r.notables)
