"""Index-time bounds written in a search (`_index_earliest=-12m@m _index_latest=-2m@m`), for the SPL evaluator.

Search Reference, "Time modifiers": `_index_earliest` / `_index_latest` bound `_indextime` as `earliest` / `latest`
bound `_time`, relative to the search's "now" (a scheduled search's scheduled time). The evaluator judges one event
at a time and knows neither, so each bound becomes a term on a field set per run (`sigma_model_indexN=1` where the
event's index time is within bound N); bounds are `earliest <= t < latest` (tests/execution/splunk_model.py says
why that reading). `run_newly_indexed` is the run that first sees every record: all indexed in its newest window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from .spl import Row, SplunkEvaluator

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



BOUND = re.compile(r"\b(_index_earliest|_index_latest)=(\S+)")


def inline_bounds(search: str, parse_modifier: Callable = TimeModifier.parse) -> tuple[str, list[tuple[str, object]]]:
    """The search with each inline bound replaced by its term, and the bounds: (kind, parsed time modifier)."""
    bounds: list[tuple[str, object]] = []

    def term(m: re.Match) -> str:
        bounds.append((m.group(1), parse_modifier(m.group(2))))
        return f"sigma_model_index{len(bounds) - 1}=1"

    return BOUND.sub(term, search), bounds


def within(kind: str, at: datetime, indexed: datetime) -> bool:
    return indexed >= at if kind == "_index_earliest" else indexed < at


def mark(row: Row, bounds: list, now: datetime, indexed: datetime, source: int) -> Row:
    """The row with the terms of the bounds its index time meets at `now`."""
    extra = {f"sigma_model_index{k}": ("1",) for k, (kind, m) in enumerate(bounds) if within(kind, m.at(now), indexed)}
    return Row({**row.fields, **extra}, frozenset({source}))


def run_pipeline(commands: list, rows: list[Row]) -> list[Row]:
    results = commands[0].run(rows)
    results.sort(key=lambda r: -float(r.first("_time")))  # newest first, as SplunkEvaluator.run
    for command in commands[1:]:
        results = command.run(results)
    return results


def run_newly_indexed(
    evaluator: SplunkEvaluator, search: str, records: list[dict], parse_modifier: Callable = TimeModifier.parse
) -> list[Row]:
    """`search` over `records` in the run that first sees them all: each indexed between the latest `_index_earliest`
    and the latest `_index_latest` of the search (its newest window). A search without bounds runs as written."""
    text, bounds = inline_bounds(search, parse_modifier)
    if not bounds:
        return evaluator.run(search, records)
    now = datetime(2100, 1, 1, tzinfo=timezone.utc)
    lo = max(m.at(now) for kind, m in bounds if kind == "_index_earliest")
    hi = max(m.at(now) for kind, m in bounds if kind == "_index_latest")
    indexed = lo + (hi - lo) / 2
    rows = [mark(row, bounds, now, indexed, i) for i, row in enumerate(evaluator.events(records))]
    return run_pipeline(evaluator.parse(text), rows)
