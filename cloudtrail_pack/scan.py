"""Backtesting: run the pack over CloudTrail logs on disk and report what would have fired.

Speed comes from not parsing what no rule can match. Each file is decompressed and its `eventName`
values are read with one regular-expression pass over the raw bytes; a file whose event names no rule
requires (see `engine/prefilter.py`) is counted and skipped unparsed. The records that remain are judged by
`engine/matcher.py` (the reference engine's own SQL, compiled to Python) or, for a rule it refuses, by the
reference engine itself (SQLite via pySigma's SQLite backend), so `scan` means what the tests mean.
Files are processed in parallel, in order, a bounded number at a time: memory does not grow with the
corpus. Correlations are evaluated at the end over the records that matched their rules.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .engine.plan import ScanPlan
from .pack import Pack
from .records import RecordError, decompress, iter_paths, parse_records

# `"eventName": "Value"` as CloudTrail writes it (compact, or pretty-printed). A value with an escape
# sequence stops at the backslash and is caught below, so an escaped name is never misread.
EVENT_NAME = re.compile(rb'"eventName"\s*:\s*"([^"\\]*)(["\\])')
# An ASCII character written as \u00XX could spell an event name the fast path cannot see.
ESCAPED_ASCII = re.compile(rb"\\u00[2-7][0-9a-fA-F]")


@dataclass
class FileResult:
    path: str
    events: int = 0
    parsed: int = 0
    matches: list[tuple[str, dict]] = field(default_factory=list)  # (rule id, record)
    error: str | None = None


class _Worker:
    """Per-process state: the plan's SQL as predicates, indexed by the event names each rule requires."""

    def __init__(self, plan: ScanPlan):
        self.by_name, self.any_name = plan.predicates()
        self.engine = plan.slow
        self.runnable = plan.runnable
        self.wanted = plan.event_names

    def scan(self, path: str) -> FileResult:
        result = FileResult(path)
        try:
            data, _ = decompress(Path(path).read_bytes())
        except OSError as e:
            result.error = f"cannot read ({e.strerror or e})"
            return result
        except RecordError as e:
            result.error = str(e)
            return result
        names = EVENT_NAME.findall(data)
        result.events = len(names)
        if not self.runnable:
            return result
        needed = (
            self.wanted is None
            or not names
            or ESCAPED_ASCII.search(data) is not None
            or any(end == b"\\" or value.decode("utf-8", "replace").lower() in self.wanted for value, end in names)
        )
        if not needed:
            if not _looks_complete(data):
                result.error = "truncated or not CloudTrail JSON (unbalanced document)"
            return result
        try:
            _, records = parse_records(data)
        except RecordError as e:
            result.error = str(e)
            return result
        result.events = len(records)
        if self.wanted is not None:
            records = [r for r in records if str(r.get("eventName", "")).lower() in self.wanted]
        result.parsed = len(records)
        if not records:
            return result
        slow = self.engine.run(records).matches if self.engine else {}
        for record in records:
            event_id = str(record["eventID"])
            rules = self.by_name.get(str(record.get("eventName", "")).lower(), [])
            hits = {rule_id for rule_id, matches in (*rules, *self.any_name) if matches(record)}
            hits |= slow.get(event_id, frozenset())
            for rule_id in sorted(hits):
                result.matches.append((rule_id, record))
        return result


_worker: _Worker | None = None


def _init_worker(plan: ScanPlan) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    _worker = _Worker(plan)


def _scan_in_worker(path: str) -> FileResult:
    assert _worker is not None
    return _worker.scan(path)


def _looks_complete(data: bytes) -> bool:
    """A cheap structural check for files skipped unparsed (a truncated download ends mid-record)."""
    stripped = data.strip()
    return stripped.startswith(b"{") and stripped.endswith(b"}")


def principal(record: dict) -> str | None:
    identity = record.get("userIdentity") or {}
    return identity.get("arn") or identity.get("invokedBy") or identity.get("principalId") or identity.get("type")


@dataclass
class ScanSummary:
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # rule title -> why it was not evaluated
    events: int = 0
    parsed: int = 0
    matches: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def scan(
    paths: Iterable[Path | str],
    pack: Pack,
    rule_ids: list[str] | None = None,
    jobs: int | None = None,
    summary: ScanSummary | None = None,
    on_file=None,
    filters: tuple = (),
) -> Iterator[dict]:
    """Yield one dict per match (detections in file order, then correlation alerts); `filters`: local
    tuning (filters.LocalFilter), applied as the build applies them."""
    summary = summary if summary is not None else ScanSummary()
    start = time.perf_counter()
    plan = ScanPlan.build(pack, rule_ids, filters)
    summary.unsupported = dict(plan.unsupported)
    counted: dict[str, dict] = {}  # eventID -> record, for the correlations
    files = [str(p) for p in iter_paths(list(paths))]
    jobs = jobs or min(os.cpu_count() or 1, 8)
    for result in _run(files, plan, jobs):
        summary.files += 1
        if on_file:
            on_file(result)
        if result.error:
            summary.skipped.append((result.path, result.error))
            continue
        summary.events += result.events
        summary.parsed += result.parsed
        for rule_id, record in result.matches:
            if rule_id in plan.counted:
                counted[str(record["eventID"])] = record
            if rule_id not in plan.reported:
                continue
            summary.matches[rule_id] += 1
            rule = plan.rules[rule_id]
            yield {
                "rule_id": rule_id,
                "rule_title": rule.title,
                "level": rule.level,
                "eventID": record.get("eventID"),
                "eventTime": record.get("eventTime"),
                "eventSource": record.get("eventSource"),
                "eventName": record.get("eventName"),
                "principal": principal(record),
                "sourceIPAddress": record.get("sourceIPAddress"),
                "errorCode": record.get("errorCode"),
                "recipientAccountId": record.get("recipientAccountId"),
                "file": result.path,
            }
    if plan.correlations is not None and counted:
        verdict = plan.correlations.run(list(counted.values()))
        for rule_id, group, events in sorted(verdict.incidents(), key=lambda i: (i[0], i[1], sorted(i[2]))):
            rule = plan.rules[rule_id]
            times = sorted(counted[e]["eventTime"] for e in events)
            summary.matches[rule_id] += 1
            yield {
                "rule_id": rule_id,
                "rule_title": rule.title,
                "level": rule.level,
                "correlation": rule.correlation,
                "group": dict(group),
                "events": sorted(events),
                "event_count": len(events),
                "first_eventTime": times[0],
                "last_eventTime": times[-1],
            }
    summary.seconds = time.perf_counter() - start


def _run(files: list[str], plan: ScanPlan, jobs: int) -> Iterator[FileResult]:
    """Results in file order; at most a few files per worker in flight, so memory stays bounded."""
    if jobs <= 1 or len(files) <= 1:
        worker = _Worker(plan)
        for f in files:
            yield worker.scan(f)
        return
    window = jobs * 4
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(plan,))
    try:
        pending: list[Future] = []
        it = iter(files)
        for f in it:
            pending.append(pool.submit(_scan_in_worker, f))
            if len(pending) >= window:
                break
        while pending:
            result = pending.pop(0).result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_scan_in_worker, nxt))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an early stop (Ctrl-C, closed pipe) too
