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
[INDEX]  savedsearches.conf.spec `dispatch.index_earliest` / `dispatch.index_latest`, and Search Reference "Time
         modifiers" `_index_earliest` / `_index_latest` in the search: bounds on `_indextime`, written and
         resolved like the event-time bounds [TIME]; the search still needs an event-time range that holds the
         events.
[SKEW]   Reporting Manual, "Offset scheduled search start times": `allow_skew` offsets the actual start of a
         scheduled search from its scheduled time by a random amount, the same for every run of the search.
[AWS]    Splunk Add-on for AWS, sourcetype aws:cloudtrail: `_time` is the event's eventTime. An event is
         searchable once indexed (`_indextime`), here its delivery time (timeline.Delivered.ingested).
[ES]     Splunk Enterprise Security, "Using notable events in search": a correlation search with the
         notable action (`action.notable = 1`) writes a notable event for each result of a triggered
         alert, which the analyst sees on Incident Review.

Assumptions, stated because Splunk does not document them: a window is `earliest <= t < latest`, for event
and index time alike (consecutive index windows meet at one instant, so an event indexed at that very second
belongs to one run; were both bounds inclusive, it would be searched twice and alert suppression would fold the
second alert); whether allow_skew moves the time range with the start is not said, so replay() takes either
(`skew_moves_range`); a result without
a value for a suppression field has the empty value (so it is suppressed only by a result that also
lacks it); values are compared exactly; the search runs and alerts at its start time; the scheduler
skips no run, which [SPEC] promises only for continuous scheduling (`realtime_schedule = 0`; the app's
stanzas are checked for it in tests/splunk/test_splunk_app.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from evaluators.index_time import _EPOCH, _UNITS, ModelError, TimeModifier, inline_bounds, mark, run_pipeline
from evaluators.spl import Row, SplunkEvaluator
from timeline import Delivered

def span(text: str) -> timedelta:
    """`alert.suppress.period` and similar: `<int><unit>`."""
    m = re.fullmatch(r"(\d+)([a-z]+)", text)
    if not m or m.group(2) not in _UNITS:
        raise ModelError(f"period {text!r} is outside the modelled subset")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class Cron:
    """[SPEC] A cron schedule whose minute field is `*`, `*/N`, `a-b/N`, `N` or a list, every other field `*`."""

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
            elif m := re.fullmatch(r"(\*|(\d+)-(\d+))/(\d+)", part):  # `*/N`, `a-b/N`: every Nth minute of the range
                first, last = (int(m.group(2)), int(m.group(3))) if m.group(2) else (0, 59)
                if not first <= last < 60:
                    raise ModelError(f"cron minute range {part!r} is not a range of minutes")
                minutes.update(range(first, last + 1, int(m.group(4))))
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
    index_earliest: TimeModifier | None = None  # [INDEX] dispatch settings
    index_latest: TimeModifier | None = None
    allow_skew: timedelta = timedelta(0)  # [SKEW]

    @classmethod
    def from_stanza(cls, name: str, stanza: dict[str, str]) -> "SavedSearch":
        if stanza.get("enableSched") != "1":
            raise ModelError(f"{name}: not scheduled")
        if (stanza.get("counttype"), stanza.get("relation"), stanza.get("quantity")) != (
            "number of events", "greater than", "0",
        ):
            raise ModelError(f"{name}: the model knows one trigger condition, 'number of events greater than 0'")
        index = [stanza.get(f"dispatch.index_{b}") for b in ("earliest", "latest")]
        if any(index) and not all(index):
            raise ModelError(f"{name}: the model knows index-time windows with both bounds")
        skew = stanza.get("allow_skew", "0")
        if skew.endswith("%"):
            raise ModelError(f"{name}: allow_skew as a percentage is outside the modelled subset")
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
            index_earliest=TimeModifier.parse(index[0]) if index[0] else None,
            index_latest=TimeModifier.parse(index[1]) if index[1] else None,
            allow_skew=span(skew) if skew != "0" else timedelta(0),
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
    #: event id -> how many runs read it (an event the search's first command matches, in a run's time ranges)
    searched: dict[str, int] = field(default_factory=dict)


def _event_ids(row: Row, records: list[dict]) -> frozenset[str]:
    members = row.window if row.window is not None else row.sources
    return frozenset(str(records[i]["eventID"]) for i in members)


#: Commands after the first that, given no result, give none: the model skips runs without a result.
_PER_RESULT_COMMANDS = {"regex", "where", "search", "table", "fields", "sort", "streamstats", "eval"}
_parsed: dict[tuple[int, str], list] = {}
def _epoch_seconds(t: datetime) -> float:
    return (t - _EPOCH).total_seconds()


def _parse(evaluator: SplunkEvaluator, search: str) -> list:
    key = (id(evaluator), search)
    if key not in _parsed:
        _parsed[key] = evaluator.parse(search)
    return _parsed[key]


def _run_times(saved: SavedSearch, times: list[datetime], bounds: list[TimeModifier], shift: timedelta) -> list[datetime]:
    """The scheduled times whose range [T + earliest, T + latest) of `bounds` can hold one of `times`."""
    snap = max((m.snap for m in bounds if m.snap), default=timedelta(0))
    gap = saved.cron.longest_gap
    lo, hi = min(m.offset for m in bounds), max(m.offset for m in bounds)
    out: set[datetime] = set()
    for t in times:
        out.update(saved.cron.times(t - hi - snap - gap - shift, t - lo + snap + gap - shift))
    return sorted(out)


def replay(
    saved: SavedSearch,
    evaluator: SplunkEvaluator,
    events: list[Delivered],
    dispatch_delay: timedelta,
    skew: timedelta = timedelta(0),
    skew_moves_range: bool = False,
) -> Replay:
    """Run the saved search at every scheduled time that can see one of `events`.

    Each run starts `skew` [SKEW] plus `dispatch_delay` after its scheduled time ([SPEC] schedule_window: less
    than the period); its time ranges are relative to the scheduled time [REPORT] [TIME] (or to the skewed one,
    `skew_moves_range`); it reads the events in its event-time range, and in its index-time range [INDEX], that are
    indexed by the time it starts [AWS], triggers when it has a result, and creates a notable per result that
    suppression lets through [THROTTLE] [ES].

    Without index-time bounds in the search, its first command (the search expression) judges each event on its
    own, so it runs once per event and the rest per run; a search with inline bounds runs whole in each run.
    """
    if not timedelta(0) <= dispatch_delay < saved.cron.longest_gap:
        raise ModelError("a run starts less than one period after its scheduled time [SPEC]")
    if not timedelta(0) <= skew <= saved.allow_skew:
        raise ModelError("allow_skew bounds the skew [SKEW]")
    search, inline = inline_bounds(saved.search, TimeModifier.parse)
    commands = _parse(evaluator, search)
    if not inline and any(c.name not in _PER_RESULT_COMMANDS for c in commands[1:]):
        raise ModelError(f"{saved.name}: a command that can give a result from no events is not modelled")
    out = Replay()
    rows = evaluator.events([d.record for d in events])
    for row, d in zip(rows, events):
        row.fields["_indextime"] = (str(int(_epoch_seconds(d.ingested))),)
    if not inline:
        matched = commands[0].run(rows)
        candidates = sorted({i for r in matched for i in r.sources})
        fields = {i: r.fields for r in matched for i in r.sources}
    else:
        # An event no subsearch matches with every inline bound met matches in no run: the bounds are conjuncts.
        met = {f"sigma_model_index{k}": ("1",) for k in range(len(inline))}
        matched = commands[0].run([Row({**r.fields, **met}, r.sources) for r in rows])
        candidates = sorted({i for r in matched for i in r.sources})
        fields = {i: rows[i].fields for i in candidates}
    shift = skew if skew_moves_range else timedelta(0)
    index = [m for m in (saved.index_earliest, saved.index_latest) if m] + [m for _, m in inline]
    when = (lambda i: events[i].ingested) if index else (lambda i: events[i].event_time)
    bounds = index or [saved.earliest, saved.latest]
    state = _Suppression(saved)
    for scheduled in _run_times(saved, [when(i) for i in candidates], bounds, shift):
        now, start = scheduled + shift, scheduled + skew + dispatch_delay
        earliest, latest = saved.earliest.at(now), saved.latest.at(now)
        seen = [i for i in candidates if events[i].ingested <= start and earliest <= events[i].event_time < latest]
        if saved.index_earliest and saved.index_latest:
            lo, hi = saved.index_earliest.at(now), saved.index_latest.at(now)
            seen = [i for i in seen if lo <= events[i].ingested < hi]
        if not seen:
            continue
        records = [events[i].record for i in seen]
        if inline:
            results = _run_inline(commands, [rows[i] for i in seen], [events[i] for i in seen], inline, now)
        else:
            for i in seen:
                out.searched[events[i].event_id] = out.searched.get(events[i].event_id, 0) + 1
            results = [Row(fields[i], frozenset({j})) for j, i in enumerate(seen)]
            results.sort(key=lambda r: -float(r.first("_time")))  # newest first, as SplunkEvaluator.run
            for command in commands[1:]:
                results = command.run(results)
        if not results:  # number of events greater than 0 [SPEC]
            continue
        out.runs += 1
        new = state.alert(out, [_notable(saved, row, records, start) for row in results], start)
        if saved.notable:
            out.notables += new
    return out


def _run_inline(commands: list, rows: list[Row], events: list[Delivered], inline, now: datetime) -> list[Row]:
    """The whole search over the run's events, each marked with the inline bounds it meets [INDEX]."""
    return run_pipeline(commands, [mark(row, inline, now, d.ingested, j) for j, (row, d) in enumerate(zip(rows, events))])


@dataclass
class _Suppression:
    """[THROTTLE] What a saved search's alert suppression holds between runs."""

    saved: SavedSearch
    until: dict[tuple, tuple[datetime, Notable]] = field(default_factory=dict)
    digest_until: datetime | None = None

    def alert(self, out: Replay, found: list[Notable], start: datetime) -> list[Notable]:
        """The notables of one triggered run that suppression lets through (folding the others into `out`)."""
        saved = self.saved
        if saved.digest:
            # Triggered once per run; suppression silences the whole alert for the period [THROTTLE].
            if saved.suppress and self.digest_until is not None and start < self.digest_until:
                return []
            self.digest_until = start + saved.suppress_period
            return found
        new = []
        for notable in found:
            if saved.suppress:
                held = self.until.get(notable.key)
                if held is not None and start < held[0]:
                    for event in notable.events - held[1].events:
                        out.folded.setdefault(event, held[1])
                    continue
                self.until[notable.key] = (start + saved.suppress_period, notable)
            new.append(notable)
        return new


def _notable(saved: SavedSearch, row: Row, records: list[dict], start: datetime) -> Notable:
    key = tuple(row.first(f) or "" for f in saved.suppress_fields)
    group = tuple(sorted((f, (row.first(f) or "").lower()) for f in saved.group_by))
    return Notable(start, _event_ids(row, records), group, key)
