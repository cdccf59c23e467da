"""`scan`: backtest the rules over CloudTrail files on disk. Matches go to stdout (JSON Lines or a
table); the summary, skipped input and progress go to stderr.

Two engines, picked from `ENGINES`: the default one (this machine, worker processes; `scan.py`) and
`--engine spark` (Spark SQL, in local mode or on a cluster, for archives one machine cannot scan;
`engine/spark.py`). Both implement `engine/interface.py`'s contract, refuse the options they have no use
for themselves, and write the same matches.

Exit 0: every input was read; 2: some input was skipped (each one listed on stderr with the reason: a
path given that does not exist or cannot be read, a file, folder or record). Each match is flushed as it
is written, and the summary is printed even when the scan is interrupted (Ctrl-C: exit 130; SIGTERM,
handled the same way: 143) or its output stops (the reader went away: 141; a full disk: 74, see
main.py); it then counts what was read and the matches written.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click
import orjson

from ..engine.interface import Options, is_uri
from ..engine.results import Alert, Summary
from .exits import EXIT_USAGE, OutputError, Terminated, TextOutput, write
from .options import filters_option, local_filters, project_pack

TABLE_COLUMNS = ("level", "rule_title", "eventTime", "eventName", "principal", "errorCode", "eventID")
MAX_JOBS = (os.cpu_count() or 1) * 2


def _default_engine():
    from ..scan import LocalEngine

    return LocalEngine


def _spark_engine():
    from ..engine.spark import SparkEngine

    return SparkEngine


#: `--engine` NAME -> the engine class (`engine/interface.py`), imported when picked: the other verbs start
#: without loading either.
ENGINES = {"default": _default_engine, "spark": _spark_engine}


@click.command("scan", short_help="backtest: run every rule (correlations too) over CloudTrail files on disk")
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, readable=False))
@click.option("--rules", "rule_ids", multiple=True, metavar="ID", help="Only this rule (id or name); repeatable.")
@click.option("--format", "output_format", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=None,
    help=f"Worker processes, 1 to {MAX_JOBS} (default: one per core).",
)
@click.option(
    "--engine",
    type=click.Choice(list(ENGINES)),
    default="default",
    show_default=True,
    help="spark: Spark SQL (pip install '.[spark]', Java 17+); reads s3:// and s3a:// URIs too.",
)
@click.option("--spark-master", metavar="URL", default=None,
              help="Spark master (default: the running session, spark-submit's, or local[*]).")
@click.option("--check-every-record", "every_record", is_flag=True,
              help="Decode and check every record (slower). By default a record of AWS's own compact delivery files "
                   "that holds none of the event names the rules require is only counted.")
@filters_option
@click.pass_obj
def command(project, paths: tuple[str, ...], rule_ids: tuple[str, ...], output_format: str, jobs: int | None,
            engine: str, spark_master: str | None, every_record: bool, filters_dir) -> int:
    """Backtest: run every rule (correlations too) over CloudTrail files or folders (recursive):
    S3 delivery files (.json, .json.gz), arrays of events, JSON lines, EventBridge envelopes; - reads
    standard input."""
    from ..inputs import walk

    engine_class = ENGINES[engine]()
    pack = plan = None
    if engine == "default":
        plan = _plan(project, rule_ids, filters_dir)
        rules, filters = list(plan.rules.values()), ()
    else:
        pack = project_pack(project)
        pack.select(list(rule_ids))  # an unknown rule is an error before any file is read
        rules, filters = pack.rules, local_filters(pack, filters_dir)
    err = _console(stderr=True) if _on_terminal(sys.stderr) else _PlainStderr()
    progress = _progress(err)
    task = progress.add_task("scan", total=None)
    options = Options(rule_ids=list(rule_ids) or None, filters=filters, jobs=jobs, master=spark_master,
                      on_file=lambda _: progress.advance(task), every_record=every_record)
    problem = engine_class.usage_error(paths, options)
    if problem is not None:
        raise click.UsageError(problem)
    progress.update(task, total=sum(1 for _, why in walk([Path(p) for p in paths if not is_uri(p)]) if why is None))
    summary = Summary()
    rows = []
    matches = None
    with _sigterm_as_interrupt():
        try:
            with progress:
                engine_run = engine_class(pack, options, plan) if plan is not None else engine_class(pack, options)
                matches = engine_run.scan(paths, summary)
                for match in matches:
                    if output_format == "jsonl":
                        line = orjson.dumps(match.as_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
                        try:
                            write(line + b"\n")
                        except OutputError:
                            summary.matches[match.rule_id] -= 1  # the summary counts matches written
                            raise
                    else:
                        rows.append(match)
            if output_format == "table":
                print_table(rows)
        except KeyboardInterrupt as e:
            summary.interrupted = True
            summary.stopped = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
            raise
        except OutputError as e:
            summary.stopped = e.describe()
            raise
        finally:
            if matches is not None:
                matches.close()  # the scan's own end (workers, a file read in part) before its summary
            print_summary(err, summary, rules)
    return EXIT_USAGE if summary.skipped else 0


class _sigterm_as_interrupt:
    """SIGTERM raises Terminated (a KeyboardInterrupt) while the scan runs, so that `kill` ends it as
    Ctrl-C does: workers stopped, the summary printed, exit 143. Only the main thread can install it."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _terminated)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


def _on_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _PlainStderr:
    """The summary's lines as they are, where stderr is not a terminal: no progress bar to draw, so rich
    (a tenth of a second to import) is not loaded. Quiet once stderr is closed, as `_console`'s is."""

    is_terminal = False

    def print(self, text: str = "") -> None:
        try:
            sys.stderr.write(f"{text}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def advance(self, *args) -> None:
        pass

    def update(self, *args, **kwargs) -> None:
        pass


def _progress(err):
    """A progress bar on a terminal; elsewhere none."""
    if not err.is_terminal:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


def _console(stderr: bool = False):
    """A rich console that prints text as it is (no markup, highlighting or emoji); on stderr, one that
    goes quiet if stderr is closed (rich's default would exit)."""
    from rich.console import Console

    class Quiet(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True

    if stderr:
        return Quiet(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
    out = TextOutput()
    width = None if out.isatty() else 240
    return Console(file=out, width=width, markup=False, highlight=False, emoji=False)


def print_table(rows: list) -> None:
    """Detections one per line; a correlation alert as its first time, its count, its group and events."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False)
    for column in TABLE_COLUMNS:
        table.add_column(column)
    for row in rows:
        if isinstance(row, Alert):
            who = ", ".join(f"{k}={v}" for k, v in row.group.items())
            cells = [row.level, row.rule_title, row.first_eventTime, f"{row.event_count} events",
                     who, "", ", ".join(row.events)]
        else:
            cells = [str(getattr(row, c) or "") for c in TABLE_COLUMNS]
        table.add_row(*(Text(str(c)) for c in cells))  # Text: a value is never read as rich markup
    _console().print(table)


def _plan(project, rule_ids: tuple[str, ...], filters_dir):
    """The default engine's plan: from the cache when the rules, filters, options and code are those it
    was built from (engine/plan_cache.py), else built (pySigma loaded) and stored."""
    from ..engine import plan_cache
    from ..engine.plan import ScanPlan

    key = plan_cache.plan_key(project.rules_dir, filters_dir, rule_ids)
    plan = plan_cache.load(key) if key is not None else None
    if plan is None:
        pack = project_pack(project)
        pack.select(list(rule_ids))  # an unknown rule is an error before any file is read
        plan = ScanPlan.build(pack, list(rule_ids) or None, local_filters(pack, filters_dir))
        if key is not None:
            plan_cache.store(key, plan)
    return plan


def print_summary(err, summary, rules) -> None:
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    if summary.interrupted:
        err.print(f"interrupted: the figures below cover what was scanned before {summary.stopped or 'Ctrl-C'}")
    elif summary.stopped:
        err.print(f"stopped: {summary.stopped}; the figures below cover what was scanned and written before")
    part = " (the last one read in part)" if summary.partial else ""
    err.print(
        f"{summary.files} files{part}, {summary.events} events ({summary.parsed} parsed), "
        f"{sum(summary.matches.values())} matches in {summary.seconds:.2f}s ({rate:,.0f} events/s)"
    )
    if summary.skipped:
        err.print(f"not read: {len(summary.skipped)} inputs or records ({summary.bad_records} records in files that were read)")
    for rule in rules:
        if summary.matches[rule.id]:
            err.print(f"  {summary.matches[rule.id]:>6}  {rule.title}")
    for title, reason in summary.unsupported.items():
        err.print(f"rule not evaluated: {title}: {reason}")
    for path, reason in summary.skipped:
        err.print(f"skipped {path}: {reason}")
