"""Backtesting: run the pack over CloudTrail logs on disk and report what would have fired. This is the
default engine (`LocalEngine`, the contract in `engine/interface.py`; its reports and accounting are
`engine/results.py`'s, shared with the Spark engine).

Every input is accounted for (`inputs.walk`: each path is scanned or reported with the reason). Each
file is read as a stream (`records.RecordReader`: ISA-L gunzip, S3 documents cut into records by
msgspec, each record's head checked without decoding it), so memory does not grow with a file. A record
whose `eventName` no rule requires (`engine/prefilter.py`) is counted and never decoded; the others are
decoded and judged by `engine/matcher.py` (the reference engine's own SQL as Python) or, for a rule the
matcher refuses, by the reference engine itself (SQLite through pySigma's SQLite backend), so `scan`
means what the tests mean. A record that is not a CloudTrail event, or that an engine cannot evaluate,
is reported with its file and number and skipped; the rest of the file is read. Whatever else goes wrong
inside one file (an engine error, a worker process that dies) is that file's fault: it is named with the
reason and the other files are scanned.

Files are scanned in parallel, reported in order, a bounded number at a time; a worker spools what it
found in a file to a temporary file once it holds more than `SPOOL_AT` items, so memory stays flat for
any number of matches. Correlations: the counted events, reduced to the few values a correlation reads,
go to an on-disk table and are swept once at the end (`engine/correlate.py`). A record a correlation
cannot place in time (an `eventTime` that is not a time) is named and left out of the correlations; its
own detections are reported, since a detection rule does not need the time.

Worker processes end with the scan whatever ends it: an early stop (Ctrl-C, SIGTERM, a closed output)
terminates them, and each worker ends itself when its parent dies, SIGKILL included (`_end_with_parent`).
Their spools live in one temporary folder per scan, removed at the end.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sqlite3
import struct
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import msgspec

from .engine.correlate import Reducer, Store, Uncountable, timestamp
from .engine.interface import Options, is_uri
from .engine.plan import ScanPlan
from .engine.prefilter import RawTests
from .engine.results import PROBLEMS_KEPT, Alert, Match, Summary, alerts, left_out
from .pack import Pack
from .inputs import walk
from .literal_search import LiteralSearch
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


_worker: _Worker | None = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(plan: ScanPlan, parent: int, spool_dir: str) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    _end_with_parent(parent, spool_dir)
    _worker = _Worker(plan, spool_dir)


def _end_with_parent(parent: int, spool_dir: str) -> None:
    """A worker never outlives the scan: SIGTERM (the parent's, or the kernel's when the parent dies, by
    any signal: PR_SET_PDEATHSIG) ends it at once, even while it waits on a pipe; once the parent is gone
    it removes the scan's spools too (a live parent reads them, then removes them itself). Where prctl is
    missing, or the worker's parent is a fork server, a thread watches the scan's pid instead."""
    direct = os.getppid() == parent

    def gone() -> bool:
        if _leader_dead(parent):
            return True
        if direct:
            return os.getppid() != parent
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
        return False

    def leave(*_) -> None:
        if gone():
            shutil.rmtree(spool_dir, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, leave)
    watched = False
    if direct and sys.platform.startswith("linux"):
        try:
            watched = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
        except (OSError, AttributeError):
            pass
    if gone():  # the parent died before this worker could ask to be told
        leave()
    if not watched:
        def watch() -> None:
            while not gone():
                time.sleep(0.5)
            leave()

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _leader_dead(pid: int) -> bool:
    """The scan's main thread has exited: its process is dying. A SIGKILLed parent's threads exit one by one, and
    the kernel sends PR_SET_PDEATHSIG when the thread that forked the worker (the main thread) exits, reparenting
    the worker to a thread of the same process that is still alive (kernel/exit.c, find_new_reaper and
    forget_original_parent): getppid() still names the parent then, though nobody will read the spools. The main
    thread of a live scan never exits first, so its /proc state Z (or X) means the scan is over."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            state = stat_file.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False  # no /proc, or the process is gone: the other checks decide
    return state in (b"Z", b"X")


def _scan_in_worker(path: str) -> FileResult:
    assert _worker is not None
    result = _worker.scan(path)
    if result.matches or result.counted or result.fallback:
        result.spill(_worker.spool_dir)  # one pickled frame per file is cheap; a large one would double in the pipe
    return result


class LocalEngine:
    """The default engine: this machine, `jobs` worker processes (`engine/interface.py` is the contract)."""

    name = "default"

    def __init__(self, pack: Pack, options: Options):
        self.pack = pack
        self.options = options

    @classmethod
    def usage_error(cls, paths, options: Options) -> str | None:
        uris = [p for p in paths if is_uri(p)]
        if uris:
            return f"{uris[0]}: the default engine reads local files; use --engine spark for URIs"
        if options.master is not None:
            return "--spark-master needs --engine spark"
        return None

    def scan(self, paths: Iterable[Path | str], summary: Summary) -> Iterator[Match | Alert]:
        """Detections in file order, then correlation alerts. A path "-" is standard input. `summary` counts
        what was read and the reports handed out (a consumer that could not write one takes it back); a
        file the scan stopped inside counts with the records read so far."""
        options = self.options
        start = time.perf_counter()
        plan = ScanPlan.build(self.pack, options.rule_ids, options.filters)
        summary.unsupported = dict(plan.unsupported)
        files = []
        for path, reason in walk([Path(p) for p in paths]):  # named as Path names them ("-": standard input)
            if reason is None:
                files.append(path)
            else:
                summary.input_skipped(path, reason)
        store = Store(plan.sweeps) if plan.sweeps else None
        fallback: list[dict] = []
        results = _run(files, plan, options.jobs or min(os.cpu_count() or 1, 8))
        partial: FileResult | None = None  # the file being read in this process, until its result comes
        try:
            for result in results:
                if result.__class__ is not FileResult:  # what a file read in this process found so far
                    matches, counted, records, partial = result
                    yield from _found(summary, store, fallback, matches, counted, records)
                    continue
                partial = None
                if options.on_file:
                    options.on_file(result)
                if result.error:
                    summary.file_unread(result.path, result.error)
                    continue
                summary.file_read(result.path, result.events, result.parsed, result.problems, result.bad)
                for matches, counted, records in result.frames():
                    yield from _found(summary, store, fallback, matches, counted, records)
            yield from _correlations(plan, store, fallback, summary)
        finally:
            if partial is not None:
                summary.file_partial(partial.events, partial.parsed)
            results.close()
            if store is not None:
                store.close()
            summary.seconds = time.perf_counter() - start


def scan(
    paths: Iterable[Path | str],
    pack: Pack,
    rule_ids: list[str] | None = None,
    jobs: int | None = None,
    summary: Summary | None = None,
    on_file=None,
    filters: tuple = (),
) -> Iterator[Match | Alert]:
    """The default engine's reports for these paths (`LocalEngine.scan`), its options as arguments."""
    options = Options(rule_ids=rule_ids, filters=filters, jobs=jobs, on_file=on_file)
    return LocalEngine(pack, options).scan(paths, summary if summary is not None else Summary())


def _found(summary: Summary, store: Store | None, fallback: list[dict], matches, counted, records) -> Iterator[Match]:
    """A batch of what files held: its matches handed out, its counted rows stored for the sweeps."""
    for match in matches:
        summary.reported(match)
        yield match
    if store is not None and counted:
        summary.counted += len(counted)
        store.add(counted)
    fallback.extend(records)


def _correlations(plan: ScanPlan, store: Store | None, fallback: list[dict], summary: Summary) -> Iterator[Alert]:
    incidents = store.incidents() if store is not None else []
    if plan.fallback is not None and fallback:
        times = {str(r["eventID"]): r["eventTime"] for r in fallback}
        try:
            verdict = plan.fallback.run(fallback)
        except _ENGINE_ERRORS as e:  # a counted record SQLite cannot take: named, the rest reported
            why = too_deep() if isinstance(e, RecursionError) else f"{type(e).__name__}: {e}"
            summary.input_skipped("correlations", f"the reference engine could not evaluate "
                                  f"{', '.join(plan.rules[i].title for i in plan.fallback.plans)} ({why})")
            verdict = None
        for rule_id, group, events in verdict.incidents() if verdict else ():
            ordered = sorted(str(times.get(e, "")) for e in events)
            incidents.append((rule_id, group, events, ordered[0], ordered[-1]))
    for alert in alerts(plan.rules, incidents):
        summary.reported(alert)
        yield alert


def _run(files: list[str], plan: ScanPlan, jobs: int) -> Iterator[FileResult | tuple]:
    """Results in file order; at most a few files per worker in flight, so memory stays bounded. In
    this process (one job, or one file), each file's findings come out batch by batch before its result.
    A worker that dies (killed, out of memory) costs only the file it was scanning: that file is scanned
    again alone, in a pool of its own, and named if it kills that worker too; the others go on."""
    if jobs <= 1 or len(files) <= 1:
        worker = _Worker(plan)
        for f in files:
            yield from worker.stream(f)
        return
    spool_dir = tempfile.mkdtemp(prefix="cloudtrail-scan-")
    pool = _pool(plan, jobs, spool_dir)
    pending: list[tuple[str, Future | None]] = []
    try:
        it = iter(files)
        for f in it:
            pending.append((f, _submit(pool, f)))
            if len(pending) >= jobs * 4:
                break
        while pending:
            path, future = pending.pop(0)
            try:
                if future is None:  # the pool was broken when it came
                    raise BrokenProcessPool(path)
                result = future.result()
            except BrokenProcessPool:  # this file, or one beside it, ended its worker
                result = _alone(path, plan, spool_dir)
            except Exception as e:  # the result could not come back (pickling...): this file's fault
                result = FileResult(path, error=f"cannot be scanned ({type(e).__name__}: {str(e)[:200]})")
            if getattr(pool, "_broken", False):  # a new pool for the files whose results were lost
                _stop(pool)
                pool.shutdown(wait=True, cancel_futures=True)
                pool = _pool(plan, jobs, spool_dir)
                pending = [(p, f if _succeeded(f) else _submit(pool, p)) for p, f in pending]
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, _submit(pool, nxt)))
            yield result
    finally:
        if pending:  # stopped early (Ctrl-C, SIGTERM, a closed output): the files in flight are not waited for
            _stop(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(spool_dir, ignore_errors=True)  # spools of results never read


def _submit(pool: ProcessPoolExecutor, path: str) -> Future | None:
    try:
        return pool.submit(_scan_in_worker, path)
    except BrokenProcessPool:
        return None


def _succeeded(future: Future | None) -> bool:
    return future is not None and future.done() and not future.cancelled() and future.exception() is None


def _pool(plan: ScanPlan, jobs: int, spool_dir: str) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(plan, os.getpid(), spool_dir))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Ends a pool's workers now (ProcessPoolExecutor waits for the files they are scanning)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass


def _alone(path: str, plan: ScanPlan, spool_dir: str) -> FileResult:
    """A file whose pool broke, scanned again in a pool of one worker: its result, or why it has none."""
    pool = _pool(plan, 1, spool_dir)
    try:
        return pool.submit(_scan_in_worker, path).result()
    except BrokenProcessPool:
        return FileResult(path, error="the worker process scanning it ended abruptly (killed, or out of memory); "
                                      "not scanned")
    except Exception as e:
        return FileResult(path, error=f"cannot be scanned ({type(e).__name__}: {str(e)[:200]})")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
