"""One file of a scan, read and judged: in the scanning process itself or in a worker process
(`scan_pool.py`). `_Worker` turns the plan into predicates once per process, reads a file with
`records.RecordReader` (the fast path when a literal search is possible), decodes only the records some
rule can want, and returns what it found as a `FileResult` (spooled to disk past `SPOOL_AT` items)."""

from __future__ import annotations

import os
import sqlite3
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Iterator

import msgspec

from .engine.correlate import Reducer, Uncountable, timestamp
from .engine.plan import ScanPlan
from .engine.results import PROBLEMS_KEPT, Match, left_out
from .literal_search import LiteralSearch, RawTests
from .records import Problem, RecordReader, decode, too_deep

SPOOL_AT = 2000  # items a worker holds for one file before spooling them to disk
SLOW_BATCH = 256  # records the reference engine evaluates at once (rules the matcher refuses)
_FRAME = msgspec.msgpack.Decoder(tuple[list[Match], list[tuple], list[dict]])  # a spooled (matches, counted, fallback)


@dataclass
class FileResult:
    path: str
    events: int = 0  # CloudTrail records read
    parsed: int = 0  # records decoded (some rule requires their event name)
    matches: list[Match] = field(default_factory=list)  # reported detections
    counted: list[tuple] = field(default_factory=list)  # rows for the correlation sweeps
    fallback: list[dict] = field(default_factory=list)  # records for the reference's correlations
    spool: str | None = None  # a temporary file holding further (matches, counted, fallback) frames
    problems: list[str] = field(default_factory=list)  # "record N: reason" (at most PROBLEMS_KEPT)
    bad: int = 0  # records or lines not read
    error: str | None = None  # the file could not be read at all
    unit: str = "record"  # what its numbers count: "line" for JSON lines

    def add_problem(self, problem: Problem | str) -> None:
        self.bad += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(str(problem))

    def spill(self, folder: str | None = None) -> None:
        if self.spool is None:
            fd, self.spool = tempfile.mkstemp(prefix="cloudtrail-scan-", suffix=".spool", dir=folder)
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
                        yield _FRAME.decode(f.read(n))
            finally:
                os.unlink(self.spool)
                self.spool = None
        yield self.matches, self.counted, self.fallback


class _Worker:
    """Per-process state: the plan's SQL as predicates, indexed by the event names each rule requires."""

    def __init__(self, plan: ScanPlan, spool_dir: str | None = None):
        self.plan = plan
        self.spool_dir = spool_dir
        self.by_name, self.any_name = plan.predicates()
        self.engine = plan.slow
        self.runnable = plan.runnable
        self.wanted = plan.event_names
        # every rule of any_name has its raw tests, or none has (plan.literals is then empty)
        self.tests = RawTests(plan.literals) if plan.literals else None
        self.search = LiteralSearch(plan.search_literals) if plan.search_literals else None
        self.reports = {rule_id: plan.rules[rule_id] for rule_id in plan.reported if rule_id in plan.rules}
        self.reducer = Reducer(plan.sweeps)
        self.fallback_fields = (
            {f.split(".")[0] for f in plan.fallback.fields} | {"eventID", "eventTime"} if plan.fallback else None
        )
        self.counting = {  # rule id -> titles of the correlations that count it
            rule_id: sorted({plan.rules[s.rule_id].title for s in plan.sweeps if rule_id in s.slots}
                            | ({plan.rules[i].title for i in plan.fallback.plans} if rule_id in plan.fallback_counted else set()))
            for rule_id in {i for s in plan.sweeps for i in s.slots} | set(plan.fallback_counted)
        }

    def scan(self, path: str) -> FileResult:
        """The whole file's result (what it found spooled to disk past SPOOL_AT items)."""
        for item in self.stream(path):
            if item.__class__ is FileResult:
                return item
            matches, counted, fallback, result = item
            result.matches.extend(matches)
            result.counted.extend(counted)
            result.fallback.extend(fallback)
            if len(result.matches) + len(result.counted) + len(result.fallback) >= SPOOL_AT:
                result.spill(self.spool_dir)
        raise AssertionError("stream() ends with its FileResult")

    def stream(self, path: str) -> Iterator[tuple[list, list, list, FileResult] | FileResult]:
        """What the file holds as it is read: (matches, counted rows, fallback records, the file's counts
        so far) after each batch of records (a pipe's matches come out as they arrive), then the
        FileResult (counts, problems)."""
        result = FileResult(path)
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
                reader = RecordReader(stream, self.search)
                for items in reader.batches():
                    result.unit = reader.unit
                    problems = [i for i in items if i.__class__ is Problem]
                    for problem in problems:
                        if problem.where == "" and not result.events and not result.bad:
                            result.error = problem.reason  # nothing of the file was read
                        else:
                            result.add_problem(problem)
                    result.events = reader.records
                    if not self.runnable:
                        yield [], [], [], result
                        continue
                    if problems:
                        items = [i for i in items if i.__class__ is not Problem]
                    self._decode(self._wanted(items), result, batch)
                    if self.engine is None or len(batch) >= SLOW_BATCH:
                        self._judge(batch, result, found)
                        batch = []
                    yield found.matches, found.counted, found.fallback, result  # found and read so far
                    found.matches, found.counted, found.fallback = [], [], []
            self._judge(batch, result, found)
        except Exception as e:  # anything else is this file's fault, never the scan's
            problem = f"cannot be scanned ({type(e).__name__}: {str(e)[:200]}); the rest of the file is not read"
            if result.events or result.bad:
                result.add_problem(Problem("", problem))
            else:
                result.error = problem
        if found.matches or found.counted or found.fallback:
            yield found.matches, found.counted, found.fallback, result
        yield result

    def _wanted(self, items: list) -> list:
        """The records of a batch some rule can match (`engine/prefilter.py`), undecoded: their event name is
        one a rule requires, or (with the any-name rules their bytes allow) their bytes pass a raw test."""
        if self.tests is not None:
            tests, wanted = self.tests, self.wanted
            return [
                (n, raw, head, allowed) for n, raw, head in items
                if (allowed := tests(bytes(raw).lower())) or head.eventName.lower() in wanted
            ]
        if self.wanted is not None:
            wanted = self.wanted
            return [i for i in items if i[2].eventName.lower() in wanted]
        return items

    def _decode(self, items, result: FileResult, batch: list) -> None:
        for number, raw, _, *allowed in items:
            try:
                record = decode(raw)
            except RecursionError:
                result.add_problem(f"{result.unit} {number}: {too_deep()}")
                continue
            except msgspec.DecodeError as e:
                result.add_problem(f"{result.unit} {number}: invalid JSON ({e})")
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
                why = too_deep() if isinstance(e, RecursionError) else f"{type(e).__name__}: {e}"
                result.add_problem(f"{result.unit} {number}: cannot be evaluated ({why})")
                continue
            if slow:
                hits |= slow.get(event_id, frozenset())
            if not hits:
                continue
            ordered = sorted(hits) if len(hits) > 1 else list(hits)
            for rule_id in ordered:
                rule = reports.get(rule_id)
                if rule is not None:
                    matches_out.append(Match.of(rule, record, path))
            if self.counting:
                self._count(hits, ordered, record, number, result, found)

    def _count(self, hits: set, ordered: list, record: dict, number: int, result: FileResult, found: FileResult) -> None:
        """What the correlations count of a matched record; one they cannot place in time or hold is
        named, and left out of them (its own detections stand)."""
        try:
            if self.reducer.by_rule:
                found.counted.extend(self.reducer.rows(ordered, record, record["eventID"], record["eventTime"]))
            if self.fallback_fields is not None and not hits.isdisjoint(self.plan.fallback_counted):
                if timestamp(record["eventTime"]) is None:
                    raise Uncountable(f"eventTime {record['eventTime']!r} is not a time")
                found.fallback.append({k: v for k, v in record.items() if k.split(".")[0] in self.fallback_fields})
        except Uncountable as e:
            counting = {t for rule_id in hits for t in self.counting.get(rule_id, ())}
            result.add_problem(left_out(f"{result.unit} {number}", str(e), counting))

    def _slow(self, batch, result) -> dict[str, frozenset[str]]:
        """The reference's verdicts for the rules the matcher refuses; a record SQLite cannot take is
        reported and evaluated by the matcher's rules only."""
        try:
            return self.engine.run([r for _, r, _ in batch]).matches
        except _ENGINE_ERRORS:
            pass
        out: dict[str, frozenset[str]] = {}
        for number, record, _ in batch:
            try:
                out.update(self.engine.run([record]).matches)
            except _ENGINE_ERRORS as e:
                why = too_deep() if isinstance(e, RecursionError) else f"{type(e).__name__}: {e}"
                result.add_problem(f"{result.unit} {number}: the reference engine cannot evaluate it ({why})")
        return out


_ENGINE_ERRORS = (sqlite3.Error, OverflowError, ValueError, UnicodeError, MemoryError, RecursionError)
