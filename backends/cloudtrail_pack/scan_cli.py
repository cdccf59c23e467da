"""`build.py scan`: matches on stdout (JSON Lines or a table), the summary and progress on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .pack import PackError, load_pack
from .records import iter_paths
from .scan import ScanSummary, scan

TABLE_COLUMNS = ("level", "rule_title", "eventTime", "eventName", "principal", "errorCode", "eventID")


def run_scan(args) -> int:
    rules_dir = Path(args.rules_dir)
    pack = load_pack(rules_dir)
    pack.select(args.rules)  # an unknown rule is an error before any file is read
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise PackError(missing[0], "no such file or folder")
    err = Console(stderr=True, soft_wrap=True)
    summary = ScanSummary()
    total = sum(1 for _ in iter_paths(args.paths))
    progress = Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )
    rows = []
    with progress:
        task = progress.add_task("scan", total=total)
        for match in scan(args.paths, rules_dir, args.rules, args.jobs or None, summary,
                          on_file=lambda _: progress.advance(task)):
            if args.format == "jsonl":
                sys.stdout.buffer.write(orjson.dumps(match, option=orjson.OPT_SORT_KEYS) + b"\n")
            else:
                rows.append(match)
    if args.format == "table":
        print_table(rows)
    print_summary(err, summary, pack)
    return 2 if summary.skipped else 0


def print_table(rows: list[dict]) -> None:
    table = Table(show_lines=False)
    for column in TABLE_COLUMNS:
        table.add_column(column)
    for row in rows:
        if "correlation" in row:
            who = ", ".join(f"{k}={v}" for k, v in row["group"].items())
            table.add_row(row["level"], row["rule_title"], row["first_eventTime"], f"{row['event_count']} events",
                          who, "", ", ".join(row["events"]))
        else:
            table.add_row(*(str(row.get(c) or "") for c in TABLE_COLUMNS))
    out = Console()
    if not out.is_terminal:
        out = Console(width=240)
    out.print(table)


def print_summary(err: Console, summary: ScanSummary, pack) -> None:
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
