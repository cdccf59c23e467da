"""Backtesting: run the pack over CloudTrail logs on disk and report what would have fired.

Every input is accounted for (`records.walk`: each path is scanned or reported with the reason). Each
file is read as a stream (`records.RecordReader`: ISA-L gunzip, S3 documents cut into records by
msgspec, each record's head checked without decoding it), so memory does not grow with a file. A record
whose `eventName` no rule requires (`engine/prefilter.py`) is counted and never decoded; the others are
decoded and judged by `engine/matcher.py` (the reference engine's own SQL as Python) or, for a rule the
matcher refuses, by the reference engine itself (SQLite through pySigma's SQLite backend), so `scan`
means what the tests mean. A record that is not a CloudTrail event, or that an engine cannot evaluate,
is reported with its file and number and skipped; the rest of the file is read.

Files are scanned in parallel, reported in order, a bounded number at a time; a worker spools what it
found in a file to a temporary file once it holds more than `SPOOL_AT` items, so memory stays flat for
any number of matches. Correlations: the counted events, reduced to the few values a correlation reads,
go to an on-disk table and are swept once at the end (`engine/correlate.py`).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import tempfile
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import msgspec

from .engine.correlate import Reducer, Store
from .engine.plan import ScanPlan
from .engine.prefilter import RawTests
from .pack import Pack
from .records import Problem, RecordReader, decode, walk

SPOOL_AT = 2000  # items a worker holds for one file before spooling them to disk
SLOW_BATCH = 256  # records the reference engine evaluates at once (rules the matcher refuses)
PROBLEMS_KEPT = 50  # problems listed per file; the rest are counted


@dataclass
class FileResult:
    path: str
    events: int = 0  # CloudTrail records read
    parsed: int = 0  # records decoded (some rule requires their event name)
    matches: list[dict] = field(default_factory=list)  # reported detections, output-ready
    counted: list[tuple] = field(default_factory=list)  # rows for the correlation sweeps
    fallback: list[dict] = field(default_factory=list)  # records for the reference's correlations
    spool: str | None = None  # a temporary file holding further (matches, counted, fallback) frames
    problems: list[str] = field(default_factory=list)  # "record N: reason" (at most PROBLEMS_KEPT)
    bad: int = 0  # records or lines not read
    error: str | None = None  # the file could not be read at all

    def add_problem(self, problem: Problem | str) -> None:
        self.bad += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(str(problem))

    def spill(self) -> None:
        if self.spool is None:
            fd, self.spool = tempfile.mkstemp(prefix="cloudtrail-scan-", suffix=".spool")
            os.close(fd)
        frame = msgspec.msgpack.encode((self.matches, self.counted, self.fallback))
        with open(self.spool, "ab") as f:
            f.write(struct.pack("<Q", len(frame)) + frame)
        self.matches, self.counted, self.fallback = [], [], []

    def frames(self) -> Iterator[tuple[list, list, list]]:
        """Everything found, spooled frames first (in the order found), then what stayed in memory."""
        if self.spool is not None:
            try:
                with open(self.spool, "rb") as f:
                    while header := f.read(8):
                        (n,) = struct.unpack("<Q", header)
                        matches, counted, fallback = msgspec.msgpack.decode(f.read(n))
                        yield matches, [tuple(r) for r in counted], fallback
            finally:
                os.unlink(self.spool)
                self.spool = None
        yield self.matches, self.counted, self.fallback


def principal(record: dict) -> str | None:
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return None
    return identity.get("arn") or identity.get("invokedBy") or identity.get("principalId") or identity.get("type")


class _Worker:
    """Per-process state: the plan's SQL as predicates, indexed by the event names each rule requires."""

    def __init__(self, plan: ScanPlan):
        self.plan = plan
        self.by_name, self.any_name = plan.predicates()
        self.engine = plan.slow
        self.runnable = plan.runnable
        self.wanted = plan.event_names
        # every rule of any_name has its raw tests, or none has (plan.literals is then empty)
        self.tests = RawTests(plan.literals) if plan.literals else None
        self.reports = {  # what a match report says about its rule, built once
            rule_id: (rule_id, self.plan.rules[rule_id].title, self.plan.rules[rule_id].level)
            for rule_id in plan.reported if rule_id in plan.rules
        }
        self.reducer = Reducer(plan.sweeps)
        self.fallback_fields = (
            {f.split(".")[0] for f in plan.fallback.fields} | {"eventID", "eventTime"} if plan.fallback else None
        )

    def scan(self, path: str) -> FileResult:
        """The whole file's result (what it found spooled to disk past SPOOL_AT items)."""
        for item in self.stream(path):
            if item.__class__ is FileResult:
                return item
            matches, counted, fallback = item
            result = self.current
            result.matches.extend(matches)
            result.counted.extend(counted)
            result.fallback.extend(fallback)
            if len(result.matches) + len(result.counted) + len(result.fallback) >= SPOOL_AT:
                result.spill()
        raise AssertionError("stream() ends with its FileResult")

    def stream(self, path: str) -> Iterator[tuple[list, list, list] | FileResult]:
        """What the file holds as it is read: (matches, counted rows, fallback records) after each batch
        of records (a pipe's matches come out as they arrive), then the FileResult (counts, problems)."""
        result = self.current = FileResult(path)
        found = FileResult(path)  # what the batches find, handed out after each
        try:
            stream = open(0 if path == "-" else path, "rb", closefd=path != "-")
        except OSError as e:
            result.error = f"cannot read ({e.strerror or e})"
            yield result
            return
        batch: list[tuple[int, dict, frozenset | None]] = []
        try:
            with stream:
                for items in RecordReader(stream).batches():
                    problems = [i for i in items if i.__class__ is Problem]
                    for problem in problems:
                        if problem.where == "" and not result.events and not result.bad:
                            result.error = problem.reason  # nothing of the file was read
                        else:
                            result.add_problem(problem)
                    result.events += len(items) - len(problems)
                    if not self.runnable:
                        continue
                    if problems:
                        items = [i for i in items if i.__class__ is not Problem]
                    if self.tests is not None:  # each record with the any-name rules its bytes allow
                        tests, wanted = self.tests, self.wanted
                        items = [
                            (n, raw, head, allowed) for n, raw, head in items
                            if (allowed := tests(bytes(raw).lower())) or head.eventName.lower() in wanted
                        ]
                    elif self.wanted is not None:
                        wanted = self.wanted
                        items = [i for i in items if i[2].eventName.lower() in wanted]
                    self._decode(items, result, batch)
                    if self.engine is None or len(batch) >= SLOW_BATCH:
                        self._judge(batch, result, found)
                        batch = []
                        if found.matches or found.counted or found.fallback:
                            yield found.matches, found.counted, found.fallback
                            found.matches, found.counted, found.fallback = [], [], []
        except OSError as e:
            result.add_problem(Problem("", f"cannot read ({e.strerror or e}); the rest of the file is not read"))
        self._judge(batch, result, found)
        if found.matches or found.counted or found.fallback:
            yield found.matches, found.counted, found.fallback
        yield result

    def _decode(self, items, result: FileResult, batch: list) -> None:
        for number, raw, _, *allowed in items:
            try:
                record = decode(raw)
            except (msgspec.DecodeError, RecursionError) as e:
                result.add_problem(f"record {number}: invalid JSON ({e})")
                continue
            result.parsed += 1
            batch.append((number, record, allowed[0] if allowed else None))

    def _judge(self, batch: list[tuple[int, dict, frozenset | None]], result: FileResult, found: FileResult) -> None:
        """Matches and counted rows of a batch into `found`; problems into `result`."""
        if not batch:
            return
        slow = self._slow(batch, result) if self.engine is not None else {}
        by_name, any_name, reports, path = self.by_name, self.any_name, self.reports, result.path
        matches_out = found.matches
        for number, record, allowed in batch:
            event_id = record["eventID"]
            try:
                hits = {rule_id for rule_id, matches in by_name.get(record["eventName"].lower(), ()) if matches(record)}
                for rule_id, matches in any_name:
                    if (allowed is None or rule_id in allowed) and matches(record):
                        hits.add(rule_id)
            except Exception as e:  # a record no predicate expected: reported, never a lost scan
                result.add_problem(f"record {number}: cannot be evaluated ({type(e).__name__}: {e})")
                continue
            if slow:
                hits |= slow.get(event_id, frozenset())
            if not hits:
                continue
            ordered = sorted(hits) if len(hits) > 1 else list(hits)
            get = record.get
            for rule_id in ordered:
                report = reports.get(rule_id)
                if report is not None:
                    matches_out.append({
                        "rule_id": report[0],
                        "rule_title": report[1],
                        "level": report[2],
                        "eventID": event_id,
                        "eventTime": get("eventTime"),
                        "eventSource": get("eventSource"),
                        "eventName": get("eventName"),
                        "principal": principal(record),
                        "sourceIPAddress": get("sourceIPAddress"),
                        "errorCode": get("errorCode"),
                        "recipientAccountId": get("recipientAccountId"),
                        "file": path,
                    })
            if self.reducer.by_rule:
                found.counted.extend(self.reducer.rows(ordered, record, event_id, record["eventTime"]))
            if self.fallback_fields is not None and not hits.isdisjoint(self.plan.fallback_counted):
                found.fallback.append({k: v for k, v in record.items() if k.split(".")[0] in self.fallback_fields})

    def _slow(self, batch, result) -> dict[str, frozenset[str]]:
        """The reference's verdicts for the rules the matcher refuses; a record SQLite cannot take is
        reported and evaluated by the matcher's rules only."""
        try:
            return self.engine.run([r for _, r, _ in batch]).matches
        except (sqlite3.Error, OverflowError, ValueError, UnicodeError, MemoryError):
            pass
        out: dict[str, frozenset[str]] = {}
        for number, record, _ in batch:
            try:
                out.update(self.engine.run([record]).matches)
            except (sqlite3.Error, OverflowError, ValueError, UnicodeError, MemoryError) as e:
                result.add_problem(f"record {number}: the reference engine cannot evaluate it ({type(e).__name__}: {e})")
        return out


_worker: _Worker | None = None


def _init_worker(plan: ScanPlan) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    _worker = _Worker(plan)


def _scan_in_worker(path: str) -> FileResult:
    assert _worker is not None
    result = _worker.scan(path)
    if result.matches or result.counted or result.fallback:
        result.spill()  # one pickled frame per file is cheap; a large one would double in the pipe
    return result


@dataclass
class ScanSummary:
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): input not read
    unsupported: dict[str, str] = field(default_factory=dict)  # rule title -> why it was not evaluated
    events: int = 0
    parsed: int = 0
    matches: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    bad_records: int = 0  # records or lines skipped inside files that were read
    counted: int = 0  # events the correlations counted
    interrupted: bool = False


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
    tuning (filters.LocalFilter), applied as the build applies them. A path "-" is standard input."""
    summary = summary if summary is not None else ScanSummary()
    start = time.perf_counter()
    plan = ScanPlan.build(pack, rule_ids, filters)
    summary.unsupported = dict(plan.unsupported)
    files = []
    for path, reason in walk(list(paths)):
        if reason is None:
            files.append(path)
        else:
            summary.skipped.append((path, reason))
    jobs = jobs or min(os.cpu_count() or 1, 8)
    store = Store(plan.sweeps) if plan.sweeps else None
    fallback: list[dict] = []
    results = _run(files, plan, jobs)
    try:
        for result in results:
            if result.__class__ is not FileResult:  # what a file read in this process found so far
                matches, counted, _ = result
                for match in matches:
                    summary.matches[match["rule_id"]] += 1
                    yield match
                if store is not None and counted:
                    summary.counted += len(counted)
                    store.add(counted)
                fallback.extend(result[2])
                continue
            summary.files += 1
            if on_file:
                on_file(result)
            if result.error:
                summary.skipped.append((result.path, result.error))
                continue
            summary.events += result.events
            summary.parsed += result.parsed
            summary.bad_records += result.bad
            for problem in result.problems:
                summary.skipped.append((result.path, problem))
            if result.bad > len(result.problems):
                summary.skipped.append((result.path, f"and {result.bad - len(result.problems)} more records not read"))
            for matches, counted, records in result.frames():
                for match in matches:
                    summary.matches[match["rule_id"]] += 1
                    yield match
                if store is not None and counted:
                    summary.counted += len(counted)
                    store.add(counted)
                fallback.extend(records)
        yield from _correlations(plan, store, fallback, summary)
    finally:
        results.close()
        if store is not None:
            store.close()
        summary.seconds = time.perf_counter() - start


def _correlations(plan: ScanPlan, store: Store | None, fallback: list[dict], summary: ScanSummary) -> Iterator[dict]:
    incidents = store.incidents() if store is not None else []
    if plan.fallback is not None and fallback:
        times = {str(r["eventID"]): r["eventTime"] for r in fallback}
        for rule_id, group, events in plan.fallback.run(fallback).incidents():
            ordered = sorted(str(times.get(e, "")) for e in events)
            incidents.append((rule_id, group, events, ordered[0], ordered[-1]))
    for rule_id, group, events, first, last in sorted(incidents, key=lambda i: (i[0], i[1], sorted(i[2]))):
        rule = plan.rules[rule_id]
        summary.matches[rule_id] += 1
        yield {
            "rule_id": rule_id,
            "rule_title": rule.title,
            "level": rule.level,
            "correlation": rule.correlation,
            "group": dict(group),
            "events": sorted(events),
            "event_count": len(events),
            "first_eventTime": first,
            "last_eventTime": last,
        }


def _run(files: list[str], plan: ScanPlan, jobs: int) -> Iterator[FileResult | tuple]:
    """Results in file order; at most a few files per worker in flight, so memory stays bounded. In
    this process (one job, or one file), each file's findings come out batch by batch before its result."""
    if jobs <= 1 or len(files) <= 1:
        worker = _Worker(plan)
        for f in files:
            yield from worker.stream(f)
        return
    window = jobs * 4
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(plan,))
    pending: list[Future] = []
    try:
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
        for future in pending:  # spools of results never read
            if future.done() and not future.cancelled() and future.exception() is None:
                spool = future.result().spool
                if spool:
                    try:
                        os.unlink(spool)
                    except OSError:
                        pass
