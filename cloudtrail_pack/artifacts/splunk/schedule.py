"""When each saved search of the Splunk app runs and which events it reads.

CloudTrail reaches Splunk minutes after the call, and hours during a backlog, so a search that reads a fixed range
of event time (`_time`) never sees an event indexed after that range has been searched. Instead every run reads
the events *indexed* in the last period, `[-12m@m, -2m@m)` of index time (`_indextime`), within a wide event-time
range (MAX_DELAY back): consecutive runs' index windows tile index time, so each event is searched exactly once,
whenever it arrives, up to MAX_DELAY after it happened. The two minutes of lag leave an event indexed just before a
run's window closes the time to become searchable. Sources (docs/splunk.md cites them in full):

* savedsearches.conf.spec: `dispatch.index_earliest` / `dispatch.index_latest` ("the earliest/latest index time for
  this search"), relative to the scheduled time like `dispatch.earliest_time`; `allow_skew`; `cron_schedule`.
* Search Reference, "Time modifiers": `_index_earliest` / `_index_latest` in a search are the same bounds on
  `_indextime`, and "your search must also have an event-time window which will retrieve the events".
* Reporting Manual, "Offset scheduled search start times": `allow_skew` offsets a search's actual start from its
  scheduled time by a random amount, the same every run; contentctl's savedsearches_detections.j2 (splunk/contentctl
  at fc0098898946fd681e9f9758c4512cfe17f32b52) ships every ESCU detection with `allow_skew = 100%`.

A correlation cannot read only the new events: its partners may have arrived long before. It reads every event
indexed before the window closes, tags those indexed earlier (`sigma_old`), and reports a window that reaches the
condition only if no window of the earlier events already did within the timespan (`scheduled_correlation`): the
incident is reported by the run that completes it, once, however its events arrive.
"""

from __future__ import annotations

import math
import re

from sigma.pipelines.cloudtrail.splunk import SCOPE_MACRO

PERIOD_MINUTES = 10
#: Index time a run leaves to the next one: an event indexed in the last minutes may not be searchable yet.
INDEX_LAG_MINUTES = 2
INDEX_EARLIEST = f"-{PERIOD_MINUTES + INDEX_LAG_MINUTES}m@m"
INDEX_LATEST = f"-{INDEX_LAG_MINUTES}m@m"
#: The longest delay between a call and its indexing that the searches see (the event-time range reaches back so far).
MAX_DELAY_HOURS = 24
EVENT_LATEST = "now"
#: Each search starts up to a minute after its staggered minute, at random (ESCU: 100%, over its hourly period).
ALLOW_SKEW = "1m"


def cron(slot: int) -> str:
    """Every PERIOD_MINUTES, from minute `slot` modulo the period: the searches spread over the period's minutes."""
    return f"{slot % PERIOD_MINUTES}-59/{PERIOD_MINUTES} * * * *"


def event_earliest(timespan_seconds: int = 0) -> str:
    """The event-time lower bound: MAX_DELAY before the index window opens, and for a correlation twice its timespan
    more (its partners, and the earlier windows it must not report again), in whole hours."""
    seconds = MAX_DELAY_HOURS * 3600 + (PERIOD_MINUTES + INDEX_LAG_MINUTES) * 60 + 2 * timespan_seconds
    return f"-{math.ceil(seconds / 3600)}h@h"


def settings(slot: int, timespan_seconds: int | None) -> dict[str, str]:
    """The stanza's schedule settings; a correlation (`timespan_seconds` set) bounds index time in its search."""
    out = {
        "allow_skew": ALLOW_SKEW,
        "cron_schedule": cron(slot),
        "dispatch.earliest_time": event_earliest(timespan_seconds or 0),
        "dispatch.latest_time": EVENT_LATEST,
    }
    if timespan_seconds is None:
        out["dispatch.index_earliest"] = INDEX_EARLIEST
        out["dispatch.index_latest"] = INDEX_LATEST
    return out


# --- correlations ----------------------------------------------------------------------------------------

NEW = f"_index_earliest={INDEX_EARLIEST} _index_latest={INDEX_LATEST}"
OLD = f"_index_latest={INDEX_EARLIEST}"
_SORT = re.compile(r"\| sort 0 _time(?:, sigma_step)?")
_STREAMSTATS = re.compile(r"\| streamstats time_window=(\w+) (.+?)(?: by ([\w. ]+))?")
_AGG = re.compile(r"(\w+)(?:\((\w+)\))? as (\w+)")


class NotACorrelationSearch(ValueError):
    """The search does not have the shape the Splunk pipeline writes for a correlation."""


def _subsearches(source: str) -> list[str]:
    """The bodies (after `search `) of the searches a correlation reads: its multisearch's, or its one search."""
    lines = source.split("\n")
    if lines[0] == "| multisearch":
        bodies = [line[len("    [search "):-1] for line in lines[1:] if line.startswith("    [search ") and line.endswith("]")]
        if len(bodies) != len(lines) - 1:
            raise NotACorrelationSearch("a multisearch line is not a subsearch")
        return bodies
    return [source.replace("\n| ", " | ")]


def _split(body: str, modifiers: str, tag: str) -> str:
    prefix = f"`{SCOPE_MACRO}` "
    if not body.startswith(prefix) or "\n" in body:
        raise NotACorrelationSearch("a subsearch does not start with the scope macro")
    return f"    [search {prefix}{modifiers} {body[len(prefix):]} | eval {tag}]"


def scheduled_correlation(search: str) -> str:
    """The correlation `search` (the Splunk pipeline's, tuning macro last) as the app schedules it (module docstring).

    Each event is read once, tagged new (indexed in the run's index window) or old (before it); the statistics are
    computed over all of them and again over the old ones alone (`sigma_old_<name>`); a result is kept if it meets
    the condition and no old event meeting the old-only condition lies within the timespan before or after it (a
    window already reported, by the run that read those events). `sigma_row` orders events of the same second
    the same way in both passes.
    """
    head, _, tail = search.partition("\n")
    source_lines = [head]
    rest = tail.split("\n")
    while rest and not _SORT.fullmatch(rest[0]):
        source_lines.append(rest.pop(0))
    if len(rest) < 4 or not rest[-1].startswith("| `") or not rest[-2].startswith("| where "):
        raise NotACorrelationSearch("expected `| sort 0 _time`, streamstats, `| where` and the tuning macro")
    sort, *middle, where, macro = rest
    stats = _STREAMSTATS.fullmatch(middle[-1])
    if not stats:
        raise NotACorrelationSearch("expected a time_window streamstats before the condition")
    window, aggs, by = stats.group(1), _AGG.findall(stats.group(2)), stats.group(3)
    by_clause = f" by {by}" if by else ""
    bodies = _subsearches("\n".join(source_lines))
    multisearch = ["| multisearch"] + [
        line for body in bodies for line in (_split(body, NEW, "sigma_new=1"), _split(body, OLD, "sigma_old=1"))
    ]
    old_args = [f"sigma_old_{arg}=if(sigma_old==1, {arg}, null())" for _, arg, _ in aggs if arg]
    old_aggs = [
        f"{func}(sigma_old_{arg}) as sigma_old_{name}" if arg else f"{func}(sigma_old) as sigma_old_{name}"
        for func, arg, name in aggs
    ]
    condition = where[len("| where "):]
    old_condition = condition
    for _, _, name in aggs:
        old_condition = re.sub(rf"\b{name}\b", f"sigma_old_{name}", old_condition)
    lines = [
        *multisearch,
        sort,
        "| streamstats count as sigma_row",
        *middle[:-1],
        *([f"| eval {', '.join(old_args)}"] if old_args else []),
        f"| streamstats time_window={window} {stats.group(2)}, {', '.join(old_aggs)}{by_clause}",
        f"| eval sigma_old_hit=if(sigma_old==1 AND ({old_condition}), 1, null())",
        f"| streamstats time_window={window} count(sigma_old_hit) as sigma_old_before{by_clause}",
        "| sort 0 -_time, -sigma_row",
        f"| streamstats time_window={window} count(sigma_old_hit) as sigma_old_after{by_clause}",
        f"| where ({condition}) AND sigma_old_before==0 AND sigma_old_after==0",
        macro,
    ]
    return "\n".join(lines)
