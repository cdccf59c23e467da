"""Timelines for the execution-model tests: the fixture corpus as a SIEM receives it, event by event,
minutes after the events happened.

CloudTrail does not deliver an event when it happens. "CloudTrail typically delivers events within an
average of about 5 minutes of an API call. This time is not guaranteed." and it "publishes log files
multiple times an hour, about every 5 minutes" (AWS CloudTrail User Guide, "How CloudTrail works" and
"Finding your CloudTrail log files",
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html).
A SIEM then indexes each event when its file arrives. A detection that is scheduled on event time and
looks back only as far as its run interval never sees such an event.

Each `Scenario` assigns every record a delivery delay (0 to 15 minutes, the range the pack promises to
handle); `deliver` turns a fixture file into `Delivered` events (event time, ingest time). Each target's
model (`test_<target>_execution.py`) replays the deliveries through the shipped artifact's schedule as
the SIEM runs it and returns the alerts an analyst would receive; `expected_events` and
`expected_bursts` say, from fixtures/manifest.yml only, what those alerts must cover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from fixture_corpus import FIXTURE_FILES, ExpectedAlert, FixtureFile

#: The longest delivery delay the pack promises to handle, for every target.
MAX_DELAY = timedelta(minutes=15)

#: How often CloudTrail writes a log file (about every 5 minutes; see the module docstring).
DELIVERY_PERIOD = timedelta(minutes=5)


def event_time(record: dict) -> datetime:
    return datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).astimezone(timezone.utc)


def event_id(record: dict) -> str:
    return str(record["eventID"])


def _unit(record: dict) -> float:
    """A stable pseudo-random number in [0, 1) per record (the same in every run)."""
    digest = hashlib.sha256(event_id(record).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _batched(record: dict, index: int, count: int) -> timedelta:
    """The file holding the event closes at the next 5-minute boundary and lands 0-10 minutes later."""
    t = event_time(record)
    since_boundary = timedelta(minutes=t.minute % 5, seconds=t.second, microseconds=t.microsecond)
    closes = DELIVERY_PERIOD - since_boundary
    return min(closes + timedelta(minutes=10 * _unit(record)), MAX_DELAY)


@dataclass(frozen=True)
class Scenario:
    """How late each event of a file arrives: delay(record, index in the file, records in the file)."""

    name: str
    delay: Callable[[dict, int, int], timedelta]

    def __str__(self) -> str:
        return self.name


def _constant(minutes: float) -> Scenario:
    return Scenario(f"delay-{minutes:g}m", lambda r, i, n: timedelta(minutes=minutes))


SCENARIOS: tuple[Scenario, ...] = (
    _constant(0),
    _constant(1),
    _constant(5),
    _constant(10),
    _constant(15),
    # every event on its own delay between 0 and 15 minutes
    Scenario("jitter-0-15m", lambda r, i, n: MAX_DELAY * _unit(r)),
    # CloudTrail's 5-minute files: events of one burst often arrive together, long after the first one
    Scenario("batched-files", _batched),
    # the first events of the file arrive last: a burst is seen in reverse order
    Scenario("reversed", lambda r, i, n: MAX_DELAY * ((n - 1 - i) / max(n - 1, 1))),
)


@dataclass(frozen=True)
class Delivered:
    """One CloudTrail record as the SIEM receives it."""

    record: dict
    event_time: datetime  # eventTime: when the API call happened
    ingested: datetime  # when the SIEM has indexed it and a search can see it

    @property
    def event_id(self) -> str:
        return event_id(self.record)

    @property
    def delay(self) -> timedelta:
        return self.ingested - self.event_time


def deliver(records: list[dict], scenario: Scenario) -> list[Delivered]:
    """The records with their ingest times, in the order the SIEM receives them."""
    by_time = sorted(records, key=event_time)
    out = []
    for i, record in enumerate(by_time):
        delay = scenario.delay(record, i, len(by_time))
        assert timedelta(0) <= delay <= MAX_DELAY, f"{scenario}: delay {delay} out of range"
        out.append(Delivered(record, event_time(record), event_time(record) + delay))
    return sorted(out, key=lambda d: (d.ingested, d.event_time, d.event_id))


@dataclass(frozen=True)
class Case:
    """One fixture file delivered under one scenario."""

    fixture: FixtureFile
    scenario: Scenario
    events: tuple[Delivered, ...]

    @property
    def id(self) -> str:
        return f"{self.fixture.path}-{self.scenario}"

    def expected_events(self, sigma_id: str, target: str | None = None) -> frozenset[str]:
        """The eventIDs of the file that the (base) rule must alert on (on `target`: with the manifest's declared
        `differences:` of that target reversed, FixtureFile.expected_for)."""
        declared = frozenset(eid for eid, rules in self.fixture.expect.items() if sigma_id in rules)
        return self.fixture.expected_for(target, sigma_id, declared) if target else declared

    def expected_bursts(self, sigma_id: str, target: str | None = None) -> list[ExpectedAlert]:
        """The incidents of the file that the correlation rule must alert on in `target`, one alert each (an
        alert's declared `differences:` for that target left out: the target's tests assert it is not raised)."""
        return [a for a in self.fixture.alerts if a.rule_id == sigma_id and a.expected_in(target)]

    @property
    def first(self) -> datetime:
        return min(d.event_time for d in self.events)

    @property
    def last_ingested(self) -> datetime:
        return max(d.ingested for d in self.events)


def cases() -> list[Case]:
    return [Case(f, s, tuple(deliver(f.records, s))) for f in FIXTURE_FILES for s in SCENARIOS if f.records]


CASES = cases()
CASE_IDS = [c.id for c in CASES]


def schedule(start: datetime, end: datetime, interval: timedelta, phase: timedelta = timedelta(0)) -> list[datetime]:
    """Run times every `interval` from the last one at or before `start` (offset by `phase` from the epoch)
    to the first one after `end`: every run that can see an event of the case."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc) + phase
    step = interval.total_seconds()
    first = epoch + timedelta(seconds=((start - epoch).total_seconds() // step) * step)
    runs, t = [], first
    while t <= end + interval:
        runs.append(t)
        t += interval
    return runs


#: Offsets of a schedule that is not aligned to the clock (Kibana starts a rule's interval when it is
#: enabled): the tests try each, so that no result depends on a lucky alignment.
PHASES: tuple[timedelta, ...] = (timedelta(0), timedelta(seconds=17), timedelta(minutes=2, seconds=41))


@dataclass(frozen=True)
class Alert:
    """What an analyst receives: the alert, the events it carries, and when it fired."""

    fired: datetime
    events: frozenset[str]
    group: tuple = ()  # correlation: ((field, lower-cased value), ...)


def missed_events(alerts: list[Alert], expected: frozenset[str]) -> list[str]:
    """Attack events that no alert carries."""
    seen = frozenset().union(*(a.events for a in alerts)) if alerts else frozenset()
    return sorted(expected - seen)


def unexpected_events(alerts: list[Alert], expected: frozenset[str]) -> list[str]:
    """Events carried by an alert that the rule must not alert on."""
    seen = frozenset().union(*(a.events for a in alerts)) if alerts else frozenset()
    return sorted(seen - expected)


def alerts_per_event(alerts: list[Alert]) -> dict[str, int]:
    """How many alerts carry each event: more than one is a duplicate alert for the analyst."""
    counts: dict[str, int] = {}
    for a in alerts:
        for e in a.events:
            counts[e] = counts.get(e, 0) + 1
    return counts


def burst_alerts(alerts: list[Alert], burst: ExpectedAlert) -> list[Alert]:
    """The alerts of a correlation that belong to one expected incident: same group, shared events."""
    return [a for a in alerts if dict(a.group) == dict(burst.group) and a.events & burst.events]
