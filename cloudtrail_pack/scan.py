"""Backtesting: run the pack over CloudTrail logs on disk and report what would have fired. This is the
default engine (`LocalEngine`, the contract in `engine/interface.py`; its reports and accounting are
`engine/results.py`'s, shared with the Spark engine).

Every input is accounted for (`inputs.walk`: each path is scanned or reported with the reason). Each
file is read as a stream (`records.RecordReader`: ISA-L gunzip; in AWS's own compact delivery files a
multi-literal search for the event names the rules require, and only the records around a hit cut out,
the others counted; any other layout cut into records by msgspec, each record's head checked without
decoding it), so memory does not grow with a file. A record whose `eventName` no rule requires
(`engine/prefilter.py`) is counted and never decoded; the others are decoded and judged by `engine/matcher.py` (the reference engine's own SQL as Python) or, for a rule the
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
terminates them, and each worker ends itself when its parent dies, SIGKILL included (`scan_pool.py`).
Their spools live in one temporary folder per scan, removed at the end.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from .engine.correlate import Store
from .engine.interface import Options, is_uri
from .engine.plan import ScanPlan
from .engine.results import Alert, Match, Summary, alerts
from .inputs import walk
from .records import too_deep
from .scan_worker import _ENGINE_ERRORS, FileResult, _Worker

if TYPE_CHECKING:
    from .pack import Pack


class LocalEngine:
    """The default engine: this machine, `jobs` worker processes (`engine/interface.py` is the contract)."""

    name = "default"

    def __init__(self, pack: Pack | None, options: Options, plan: ScanPlan | None = None):
        """`plan`: one already built for these options (plan_cache.py): then `pack` is not needed."""
        self.pack = pack
        self.options = options
        self.plan = plan

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
        plan = self.plan or ScanPlan.build(self.pack, options.rule_ids, options.filters)
        if options.every_record:
            plan = dataclasses.replace(plan, every_record=True)
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
    from .scan_pool import pooled  # multiprocessing is imported only when a pool is needed

    yield from pooled(files, plan, jobs)
