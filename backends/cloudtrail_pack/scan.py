"""Backtesting: run the pack over CloudTrail logs on disk and report what would have fired.

Speed comes from not parsing what no rule can match. Each file is decompressed and its `eventName`
values are read with one regular-expression pass over the raw bytes; a file whose event names no rule
requires (see `prefilter.py`) is counted and skipped unparsed. The records that remain are judged by
`matcher.py` (the reference engine's own SQL, compiled to Python) or, for a rule it refuses, by the
reference engine itself (SQLite via pySigma's SQLite backend), so `scan` means what the tests mean.
Files are processed in parallel, in order, a bounded number at a time: memory does not grow with the
corpus. Correlations are evaluated at the end over the records that matched their rules.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .matcher import MatcherUnsupported, compile_rule
from .pack import Pack, PackRule, load_pack
from .prefilter import pack_event_names, required_event_names
from .records import RecordError, decompress, iter_paths, parse_records
from .reference import ReferenceEngine

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
    """Per-process state: each detection rule compiled once, indexed by the event names it requires."""

    def __init__(self, rules_dir: str, rule_ids: list[str] | None):
        pack = load_pack(Path(rules_dir))
        detections = [r for r in _selected(pack, rule_ids) if not r.is_correlation]
        probe = ReferenceEngine(pack, detections) if detections else None
        runnable = [r for r in detections if probe and r.id not in probe.unsupported]
        self.by_name: dict[str, list] = {}  # lower-cased eventName -> [(rule id, predicate)]
        self.any_name: list = []  # rules that may match any record
        slow = []
        for rule in runnable:
            try:
                entry = (rule.id, compile_rule(rule.rule))
            except MatcherUnsupported:
                slow.append(rule)
                continue
            names = required_event_names(rule.rule)
            if names is None:
                self.any_name.append(entry)
            else:
                for name in names:
                    self.by_name.setdefault(name, []).append(entry)
        self.engine = probe.only(r.id for r in slow) if slow else None
        self.runnable = bool(runnable)
        self.wanted = pack_event_names([r.rule for r in runnable])

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


def _init_worker(rules_dir: str, rule_ids: list[str] | None) -> None:
    global _worker
    _worker = _Worker(rules_dir, rule_ids)


def _scan_in_worker(path: str) -> FileResult:
    assert _worker is not None
    return _worker.scan(path)


def _looks_complete(data: bytes) -> bool:
    """A cheap structural check for files skipped unparsed (a truncated download ends mid-record)."""
    stripped = data.strip()
    return stripped.startswith(b"{") and stripped.endswith(b"}")


def _selected(pack: Pack, rule_ids: list[str] | None) -> list[PackRule]:
    rules = pack.select(rule_ids)
    # A correlation needs the rules it counts.
    ids = {r.id for r in rules}
    for r in rules:
        if r.is_correlation:
            ids |= {str(ref.rule.id) for ref in r.rule.rules}
    return [r for r in pack.rules if r.id in ids]


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
    rules_dir: Path,
    rule_ids: list[str] | None = None,
    jobs: int | None = None,
    summary: ScanSummary | None = None,
    on_file=None,
) -> Iterator[dict]:
    """Yield one dict per match (detections in file order, then correlation alerts)."""
    summary = summary if summary is not None else ScanSummary()
    start = time.perf_counter()
    pack = load_pack(rules_dir)
    selected = _selected(pack, rule_ids)
    wanted_ids = {r.id for r in pack.select(rule_ids)}
    by_id = {r.id: r for r in selected}
    correlations = [r for r in selected if r.is_correlation]
    counted: dict[str, dict] = {}  # eventID -> record, for the correlations
    counted_ids = {str(ref.rule.id) for c in correlations for ref in c.rule.rules}
    probe = ReferenceEngine(pack, selected)  # reports rules it cannot run; narrowed below for the correlations
    summary.unsupported = {by_id[i].title: reason for i, reason in sorted(probe.unsupported.items())}
    files = [str(p) for p in iter_paths(list(paths))]
    jobs = jobs or min(os.cpu_count() or 1, 8)
    for result in _run(files, str(rules_dir), rule_ids, jobs):
        summary.files += 1
        if on_file:
            on_file(result)
        if result.error:
            summary.skipped.append((result.path, result.error))
            continue
        summary.events += result.events
        summary.parsed += result.parsed
        for rule_id, record in result.matches:
            if rule_id in counted_ids:
                counted[str(record["eventID"])] = record
            if rule_id not in wanted_ids:
                continue
            summary.matches[rule_id] += 1
            rule = by_id[rule_id]
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
    if correlations and counted:
        verdict = probe.only(r.id for r in correlations).run(list(counted.values()))
        for rule_id, group, events in sorted(verdict.incidents(), key=lambda i: (i[0], i[1], sorted(i[2]))):
            rule = by_id[rule_id]
            times = sorted(counted[e]["eventTime"] for e in events)
            summary.matches[rule_id] += 1
            yield {
                "rule_id": rule_id,
                "rule_title": rule.title,
                "level": rule.level,
                "correlation": rule.rule.type.name.lower(),
                "group": dict(group),
                "events": sorted(events),
                "event_count": len(events),
                "first_eventTime": times[0],
                "last_eventTime": times[-1],
            }
    summary.seconds = time.perf_counter() - start


def _run(files: list[str], rules_dir: str, rule_ids, jobs: int) -> Iterator[FileResult]:
    """Results in file order; at most a few files per worker in flight, so memory stays bounded."""
    if jobs <= 1 or len(files) <= 1:
        worker = _Worker(rules_dir, rule_ids)
        for f in files:
            yield worker.scan(f)
        return
    window = jobs * 4
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(rules_dir, rule_ids)) as pool:
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
