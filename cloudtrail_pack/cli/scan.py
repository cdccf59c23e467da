"""`scan`: backtest the rules over CloudTrail files on disk. Matches go to stdout (JSON Lines or a
table); the summary, skipped input and progress go to stderr.

Exit 0: every input was read; 2: some input was skipped (each one listed on stderr with the reason).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import orjson

from .options import filters_option, local_filters, project_pack

TABLE_COLUMNS = ("level", "rule_title", "eventTime", "eventName", "principal", "errorCode", "eventID")
MAX_JOBS = (os.cpu_count() or 1) * 2


@click.command("scan", short_help="backtest: run every rule (correlations too) over CloudTrail files on disk")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rules", "rule_ids", multiple=True, metavar="ID", help="Only this rule (id or name); repeatable.")
@click.option("--format", "output_format", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=None,
    help=f"Worker processes, 1 to {MAX_JOBS} (default: one per core).",
)
@filters_option
@click.pass_obj
def command(project, paths: tuple[Path, ...], rule_ids: tuple[str, ...], output_format: str, jobs: int | None, filters_dir) -> int:
    """Backtest: run every rule (correlations too) over CloudTrail files or folders (recursive):
    .json, .json.gz, JSON lines, EventBridge envelopes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..pack import PackError, shown
    from ..records import iter_paths
    from ..scan import ScanSummary, scan

    pack = project_pack(project)
    pack.select(list(rule_ids))  # an unknown rule is an error before any file is read
    filters = local_filters(pack, filters_dir)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise PackError(shown(missing[0]), "no such file or folder")
    err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
    summary = ScanSummary()
    total = sum(1 for _ in iter_paths(list(paths)))
    progress = Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )
    rows = []
    with progress:
        task = progress.add_task("scan", total=total)
        for match in scan(list(paths), pack, list(rule_ids) or None, jobs, summary, filters=filters,
                          on_file=lambda _: progress.advance(task)):
            if output_format == "jsonl":
                sys.stdout.buffer.write(orjson.dumps(match, option=orjson.OPT_SORT_KEYS) + b"\n")
            else:
                rows.append(match)
    sys.stdout.flush()
    if output_format == "table":
        print_table(rows)
    print_summary(err, summary, pack)
    return 2 if summary.skipped else 0


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False)
    for column in TABLE_COLUMNS:
        table.add_column(column)
    for row in rows:
        if "correlation" in row:
            who = ", ".join(f"{k}={v}" for k, v in row["group"].items())
            cells = [row["level"], row["rule_title"], row["first_eventTime"], f"{row['event_count']} events",
                     who, "", ", ".join(row["events"])]
        else:
            cells = [str(row.get(c) or "") for c in TABLE_COLUMNS]
        table.add_row(*(Text(str(c)) for c in cells))  # Text: a value is never read as rich markup
    out = Console(markup=False, highlight=False)
    if not out.is_terminal:
        out = Console(width=240, markup=False, highlight=False)
    out.print(table)


def print_summary(err, summary, pack) -> None:
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    err.print(
        f"{summary.files} files, {summary.events} events ({summary.parsed} parsed), "
        f"{sum(summary.matches.values())} matches in {summary.seconds:.2f}s ({rate:,.0f} events/s)"
    )
    for rule in pack.rules:
        if summary.matches[rule.id]:
            err.print(f"  {summary.matches[rule.id]:>6}  {rule.title}")
    for title, reason in summary.unsupported.items():
        err.print(f"rule not evaluated: {title}: {reason}")
    for path, reason in summary.skipped:
        err.print(f"skipped {path}: {reason}")
