"""How Splunk runs a saved search of the app, modelled from Splunk's documentation, and what reaches the
analyst: the Enterprise Security notable events.

Every behaviour is read off the stanza as shipped (savedsearches.conf inside the built .tgz); the search
itself is run by tests/evaluators/spl.py. Sources (Splunk Enterprise 9.x documentation):

[SPEC]   savedsearches.conf.spec (9.0.3): `cron_schedule` is standard cron notation; `schedule_window`
         lets the scheduler start a search later than its scheduled time, by less than its period
         ("The 'schedule_window' must be shorter than the period of the search"); `realtime_schedule =
         false` (continuous scheduling) "never skips scheduled execution periods"; `dispatch.earliest_time`
         / `dispatch.latest_time` are the search's time range; `counttype`/`relation`/`quantity` the
         trigger condition; `alert.digest_mode`, `alert.suppress`, `alert.suppress.fields` ("fields to use
         when suppressing per-result alerts"), `alert.suppress.period`.
[REPORT] Reporting Manual, "Prioritize concurrently scheduled reports in Splunk Web": a search the
         scheduler starts late "still gather[s] data for [the] time range that [it] would have covered
         if [it] started on time": the time range is relative to the scheduled time, not the start.
[TIME]   Search Manual, "Specify time modifiers in your search": `[+|-]<time_integer><time_unit>@<time_unit>`,
         the offset from "now" (here the scheduled time), then snapped down to the `@` unit.
[THROTTLE] Alerting Manual, "Throttle alerts": a scheduled alert triggering once (digest) is suppressed
         as a whole for the period; a per-result alert suppresses, for the period, the later results with
         the same values of the suppression fields as a result that alerted.
[AWS]    Splunk Add-on for AWS, sourcetype aws:cloudtrail: `_time` is the event's eventTime. An event is
         searchable once indexed (`_indextime`), here its delivery time (timeline.Delivered.ingested).
[ES]     Splunk Enterprise Security, "Using notable events in search": a correlation search with the
         notable action (`action.notable = 1`) writes a notable event for each result of a triggered
         alert, which the analyst sees on Incident Review.

Assumptions, stated because Splunk does not document them: the window is `earliest <= _time < latest`
(the shipped windows overlap, so the boundary never decides whether an event is seen); a result without
a value for a suppression field has the empty value (so it is suppressed only by a result that also
lacks it); values are compared exactly; the search runs and alerts at its start time; the scheduler
skips no run, which [SPEC] promises only for continuous scheduling (`realtime_schedule = 0`; the app's
stanzas are checked for it in tests/splunk/test_splunk_app.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from evaluators.spl import Row, SplunkEvaluator
from timeline import Delivered

_UNITS = {"s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ModelError(Exception):
    """A setting outside what the model knows: the model refuses rather than guessing."""


@dataclass(frozen=True)
class TimeModifier:
    """[TIME] `-30m@m`, `-5m@m`, `@m`, `now`: an offset from "now", then a snap down to a unit (UTC)."""

    offset: timedelta
    snap: timedelta | None

    @classmethod
    def parse(cls, text: str) -> "TimeModifier":
        if text == "now":
            return cls(timedelta(0), None)
        m = re.fullmatch(r"(?:([+-])(\d*)([a-z]+))?(?:@([a-z]+))?", text)
        if not text or not m or any(u and u not in _UNITS for u in (m.group(3), m.group(4))):
            raise ModelError(f"time modifier {text!r} is outside the modelled subset")
        offset = timedelta(0)
        if m.group(3):
            seconds = int(m.group(2) or "1") * _UNITS[m.group(3)]
            offset = timedelta(seconds=seconds if m.group(1) == "+" else -seconds)
        return cls(offset, timedelta(seconds=_UNITS[m.group(4)]) if m.group(4) else None)

    def at(self, now: datetime) -> datetime:
        t = now + self.offset
        if self.snap:
            t = _EPOCH + self.snap * ((t - _EPOCH) // self.snap)
        return t


def span(text: str) -> timedelta:
    """`alert.suppress.period` and similar: `<int><unit>`."""
    m = re.fullmatch(r"(\d+)([a-z]+)", text)
    if not m or m.group(2) not in _UNITS:
        raise ModelError(f"period {text!r} is outside the modelled subset")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class Cron:
    """[SPEC] A cron schedule whose minute field is `*`, `*/N`, `N` or a list, every other field `*`."""

    minutes: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> "Cron":
        fields = text.split()
        if len(fields) != 5 or any(f != "*" for f in fields[1:]):
            raise ModelError(f"cron schedule {text!r} is outside the modelled subset (minute field only)")
        minutes: set[int] = set()
        for part in fields[0].split(","):
            if part == "*":
                minutes.update(range(60))
            elif m := re.fullmatch(r"\*/(\d+)", part):
                minutes.update(range(0, 60, int(m.group(1))))
            elif part.isdigit() and int(part) < 60:
                minutes.add(int(part))
            else:
                raise ModelError(f"cron minute field {fields[0]!r} is outside the modelled subset")
        return cls(tuple(sorted(minutes)))

    def times(self, start: datetime, end: datetime) -> list[datetime]:
        """The scheduled times in [start, end]."""
        hour = start.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour <= end:
            out += [t for t in (hour + timedelta(minutes=m) for m in self.minutes) if start <= t <= end]
            hour += timedelta(hours=1)
        return out

    @property
    def longest_gap(self) -> timedelta:
        gaps = [b - a for a, b in zip(self.minutes, self.minutes[1:] + (self.minutes[0] + 60,))]
        return timedelta(minutes=max(gaps))


@dataclass(frozen=True)
class SavedSearch:
    """The stanza's settings the model runs on; anything it cannot model is refused."""

    name: str
    search: str
    cron: Cron
    earliest: TimeModifier
    latest: TimeModifier
    digest: bool
    suppress: bool
    suppress_fields: tuple[str, ...]
    suppress_period: timedelta
    notable: bool
    group_by: tuple[str, ...] = ()  # a correlation's group-by fields (from its streamstats `by`)

    @classmethod
    def from_stanza(cls, name: str, stanza: dict[str, str]) -> "SavedSearch":
        if stanza.get("enableSched") != "1":
            raise ModelError(f"{name}: not scheduled")
        if (stanza.get("counttype"), stanza.get("relation"), stanza.get("quantity")) != (
            "number of events", "greater than", "0",
        ):
            raise ModelError(f"{name}: the model knows one trigger condition, 'number of events greater than 0'")
        if stanza.get("dispatch.index_earliest") or stanza.get("dispatch.index_latest"):
            raise ModelError(f"{name}: index-time windows are not modelled")
        suppress = stanza.get("alert.suppress") in ("1", "true")
        fields = tuple(f for f in stanza.get("alert.suppress.fields", "").split(",") if f)
        digest = stanza.get("alert.digest_mode") in ("1", "true")
        if suppress and not digest and not fields:
            raise ModelError(f"{name}: per-result suppression needs alert.suppress.fields [SPEC]")
        by = re.search(r"\| streamstats [^\n|]* by ([^\n|]+)", stanza["search"])
        # A value_count or ordered correlation groups by lowered copies (`| eval sigma_group1=lower('field')`):
        # the group is the field they copy.
        copies = dict(re.findall(r"\b(sigma_group\d+)=lower\('([^']+)'\)", stanza["search"]))
        return cls(
            name=name,
            search=stanza["search"],
            cron=Cron.parse(stanza["cron_schedule"]),
            earliest=TimeModifier.parse(stanza["dispatch.earliest_time"]),
            latest=TimeModifier.parse(stanza["dispatch.latest_time"]),
            digest=digest,
            suppress=suppress,
            suppress_fields=fields,
            suppress_period=span(stanza["alert.suppress.period"]) if suppress else timedelta(0),
            notable=stanza.get("action.notable") in ("1", "true"),
            group_by=tuple(copies.get(f, f) for f in by.group(1).split()) if by else (),
        )

    def window(self, scheduled: datetime) -> tuple[datetime, datetime]:
        """[REPORT] [TIME] The event-time range of the run scheduled at `scheduled`."""
        return self.earliest.at(scheduled), self.latest.at(scheduled)


@dataclass(frozen=True)
class Notable:
    """One notable event on Incident Review [ES]: when it was created and the events it stands for."""

    fired: datetime
    events: frozenset[str]
    group: tuple = ()  # correlation: ((field, lower-cased value), ...)
    key: tuple = ()  # the values of the suppression fields


@dataclass
class Replay:
    """What one saved search did over one delivery of events."""

    notables: list[Notable] = field(default_factory=list)  # what reaches the analyst
    #: events of results that a suppression folded into an earlier notable with the same key
    folded: dict[str, Notable] = field(default_factory=dict)
    runs: int = 0  # runs that found at least one result


def _event_ids(row: Row, records: list[dict]) -> frozenset[str]:
    members = row.window if row.window is not None else row.sources
    return frozenset(str(records[i]["eventID"]) for i in members)


#: Commands after the first that, given no result, give none: the model skips runs without a result.
_PER_RESULT_COMMANDS = {"regex", "where", "search", "table", "fields", "sort", "streamstats", "eval"}
_parsed: dict[tuple[int, str], list] = {}


def replay(saved: SavedSearch, evaluator: SplunkEvaluator, events: list[Delivered], dispatch_delay: timedelta) -> Replay:
    """Run the saved search at every scheduled time that can see one of `events`.

    Each run starts `dispatch_delay` after its scheduled time ([SPEC] schedule_window: less than the
    period), searches the events whose `_time` is in the run's window [REPORT] [TIME] and which are
    indexed by the time it starts [AWS], triggers when it has a result, and creates a notable per result
    that suppression lets through [THROTTLE] [ES].

    The search's first command (the search expression) judges each event on its own, so it runs once
    per event; the rest of the pipeline runs per scheduled run, on the matching events that run sees.
    """
    if not timedelta(0) <= dispatch_delay < saved.cron.longest_gap:
        raise ModelError("a run starts less than one period after its scheduled time [SPEC]")
    key = (id(evaluator), saved.search)
    if key not in _parsed:
        _parsed[key] = evaluator.parse(saved.search)
    first, *rest = _parsed[key]
    if any(c.name not in _PER_RESULT_COMMANDS for c in rest):
        raise ModelError(f"{saved.name}: a command that can give a result from no events is not modelled")
    out = Replay()
    rows = first.run(evaluator.events([d.record for d in events]))
    matching = sorted({i for r in rows for i in r.sources})
    fields = {i: r.fields for r in rows for i in r.sources}
    # The scheduled runs whose window [T + earliest, T + latest) can hold a matching event.
    snap = max((m.snap for m in (saved.earliest, saved.latest) if m.snap), default=timedelta(0))
    gap = saved.cron.longest_gap
    scheduled_times: set[datetime] = set()
    for i in matching:
        t = events[i].event_time
        scheduled_times.update(
            saved.cron.times(t - saved.latest.offset - snap - gap, t - saved.earliest.offset + snap + gap)
        )
    suppressed_until: dict[tuple, tuple[datetime, Notable]] = {}
    digest_until: datetime | None = None
    for scheduled in sorted(scheduled_times):
        start = scheduled + dispatch_delay
        earliest, latest = saved.window(scheduled)
        seen = [i for i in matching if events[i].ingested <= start and earliest <= events[i].event_time < latest]
        if not seen:
            continue
        records = [events[i].record for i in seen]
        results = [Row(fields[i], frozenset({j})) for j, i in enumerate(seen)]
        results.sort(key=lambda r: -float(r.first("_time")))  # newest first, as SplunkEvaluator.run
        for command in rest:
            results = command.run(results)
        if not results:  # number of events greater than 0 [SPEC]
            continue
        out.runs += 1
        if saved.digest:
            # Triggered once per run; suppression silences the whole alert for the period [THROTTLE].
            if saved.suppress and digest_until is not None and start < digest_until:
                continue
            digest_until = start + saved.suppress_period
            new = [_notable(saved, row, records, start) for row in results]
        else:
            new = []
            for row in results:
                notable = _notable(saved, row, records, start)
                if saved.suppress:
                    held = suppressed_until.get(notable.key)
                    if held is not None and start < held[0]:
                        for event in notable.events - held[1].events:
                            out.folded.setdefault(event, held[1])
                        continue
                    suppressed_until[notable.key] = (start + saved.suppress_period, notable)
                new.append(notable)
        if saved.notable:
            out.notables += new
    return out


def _notable(saved: SavedSearch, row: Row, records: list[dict], start: datetime) -> Notable:
    key = tuple(row.first(f) or "" for f in saved.suppress_fields)
    group = tuple(sorted((f, (row.first(f) or "").lower()) for f in saved.group_by))
    return Notable(start, _event_ids(row, records), group, key)
