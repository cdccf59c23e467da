"""The scan engines' one contract (engine/interface.py) and one set of reports (engine/results.py): the command
picks an engine from its table, each engine refuses what it cannot take before anything is read, a report is
written as the README shows it, and a file's problems are accounted alike whichever engine hands them over."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import cli
from cloudtrail_pack.cli.scan import ENGINES, command
from cloudtrail_pack.engine.interface import Options
from cloudtrail_pack.engine.results import PROBLEMS_KEPT, Match, RuleInfo, Summary
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.scan import scan

from .helpers import jsonl, readme_scan_examples, record, write

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "fixtures/iam/delete_user.json"


def test_the_command_offers_exactly_the_engines_of_its_table():
    choice = next(p for p in command.params if p.name == "engine").type
    assert isinstance(choice, click.Choice) and list(choice.choices) == list(ENGINES) == ["default", "spark"]
    for name, load in ENGINES.items():
        engine = load()
        assert engine.name == name
        assert engine.usage_error([FIXTURE], Options()) is None  # a local file and no option: every engine takes it


@pytest.mark.parametrize("args, message", [
    (["s3://bucket/AWSLogs/"], "s3://bucket/AWSLogs/: the default engine reads local files; use --engine spark for URIs"),
    ([FIXTURE, "--spark-master", "local[1]"], "--spark-master needs --engine spark"),
    (["-", "--engine", "spark"], "--engine spark reads files and URIs, not standard input"),
    ([FIXTURE, "--engine", "spark", "--jobs", "1"],
     "--jobs sets the default engine's worker processes; Spark sizes itself (--spark-master)"),
], ids=["default-uri", "default-master", "spark-stdin", "spark-jobs"])
def test_each_engine_refuses_what_it_cannot_take_before_reading_anything(args, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["scan", *args], root=ROOT) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"Error: {message}" in err


def test_the_readme_shows_a_match_of_each_engine():
    assert sorted(any(a == "--engine" for a in args) for args, _ in readme_scan_examples()) == [False, True]


@pytest.mark.parametrize("args, line", [e for e in readme_scan_examples() if "--engine" not in e[0]])
def test_a_match_is_written_byte_for_byte_as_the_readme_shows_it(args, line, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["scan", *args], root=ROOT) == 0
    assert capsys.readouterr().out.splitlines()[0] == line


def test_both_engines_report_a_record_through_the_same_fields(tmp_path):
    """A match's fields come from one place: the principal is the first userIdentity field set, a value that
    is not a string, number or boolean is its JSON text."""
    identity = {"type": "AWSService", "invokedBy": "", "principalId": "AIDA", "arn": None}
    write(tmp_path / "a.jsonl", jsonl([record(event_id="e1", userIdentity=identity, errorCode={"x": [1]})]))
    (match,) = [m for m in scan([tmp_path], load_pack(ROOT / "sigma"), jobs=1) if isinstance(m, Match)]
    assert (match.principal, match.errorCode, match.file) == ("AIDA", '{"x":[1]}', str(tmp_path / "a.jsonl"))
    assert match == Match.of(RuleInfo(match.rule_id, match.rule_title, match.level),
                             record(event_id="e1", userIdentity=identity, errorCode={"x": [1]}), str(tmp_path / "a.jsonl"))


def test_a_file_with_more_problems_than_are_listed_counts_the_rest(tmp_path):
    lines = [b"not json" for _ in range(PROBLEMS_KEPT + 10)]
    write(tmp_path / "a.jsonl", b"\n".join(lines) + b"\n" + jsonl([record(event_id="e1")]))
    summary = Summary()
    assert [m.eventID for m in scan([tmp_path], load_pack(ROOT / "sigma"), jobs=1, summary=summary)] == ["e1"]
    assert summary.bad_records == PROBLEMS_KEPT + 10 and summary.files == 1
    assert len(summary.skipped) == PROBLEMS_KEPT + 1
    assert summary.skipped[-1] == (str(tmp_path / "a.jsonl"), "and 10 more records not read")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3 * PROBLEMS_KEPT))
@example(0)
@example(1)
@example(PROBLEMS_KEPT - 1)
@example(PROBLEMS_KEPT)
@example(PROBLEMS_KEPT + 1)
def test_a_files_problems_are_accounted_alike_however_an_engine_hands_them_over(n):
    """The default engine keeps the first PROBLEMS_KEPT problems of a file and counts the rest; Spark hands over
    every one: the summary says the same for both."""
    problems = [f"line {i + 1}: invalid JSON" for i in range(n)]
    kept, every = Summary(), Summary()
    kept.file_read("f", 10, 7, problems[:PROBLEMS_KEPT], bad=n)
    every.file_read("f", 10, 7, problems)
    assert kept == every
    assert (every.files, every.events, every.parsed, every.bad_records) == (1, 10, 7, n)
    listed = [reason for _, reason in every.skipped]
    assert listed[:PROBLEMS_KEPT] == problems[:PROBLEMS_KEPT]
    assert listed[PROBLEMS_KEPT:] == ([f"and {n - PROBLEMS_KEPT} more records not read"] if n > PROBLEMS_KEPT else [])
