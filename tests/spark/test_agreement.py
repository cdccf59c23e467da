"""`scan --engine spark` gives exactly the default engine's output on the fixtures: every detection (in
the same order) and every correlation alert, per folder and per file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudtrail_pack import cli
from cloudtrail_pack.engine.results import Alert, Match, Summary
from cloudtrail_pack.scan import scan
from fixture_corpus import FIXTURE_FILES, FIXTURES
from scan.helpers import readme_scan_examples

from .conftest import needs_spark

pytestmark = needs_spark

FOLDERS = ["correlation"]  # where windows span files; the other folders are covered file by file below
CORRELATION_FILES = [f for f in FIXTURE_FILES if f.alerts]


ROOT = Path(__file__).resolve().parents[2]


def default(pack, *paths):
    summary = Summary()
    return list(scan(list(paths), pack, jobs=1, summary=summary)), summary


def test_the_whole_fixture_folder_gives_the_default_engines_output(spark_scan, pack):
    got, summary = spark_scan(FIXTURES)
    expected, expected_summary = default(pack, FIXTURES)
    assert got == expected
    assert (summary.files, summary.events) == (expected_summary.files, expected_summary.events)
    assert sum(1 for m in got if isinstance(m, Alert)) == sum(1 for f in FIXTURE_FILES for _ in f.alerts)


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_fixture_folder_gives_the_default_engines_output(spark_scan, pack, folder):
    got, _ = spark_scan(FIXTURES / folder)
    assert got == default(pack, FIXTURES / folder)[0]


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=[str(f.path) for f in FIXTURE_FILES])
def test_each_fixture_files_detections_are_the_default_engines(spark_scan, pack, fixture):
    """Detections are per event: the whole corpus scan's, for this file, are what a scan of the file gives."""
    folder_scan, _ = spark_scan(FIXTURES)
    path = FIXTURES / fixture.path
    got = [m for m in folder_scan if isinstance(m, Match) and m.file == str(path)]
    assert got == [m for m in default(pack, path)[0] if not isinstance(m, Alert)]
    assert {m.eventID for m in got} == {k for k, v in fixture.expect.items() if v}


@pytest.mark.parametrize("fixture", CORRELATION_FILES, ids=[str(f.path) for f in CORRELATION_FILES])
def test_each_correlation_fixture_raises_the_alerts_the_manifest_declares(spark_scan, pack, fixture):
    got, _ = spark_scan(FIXTURES / fixture.path)
    assert got == default(pack, FIXTURES / fixture.path)[0]
    alerts = {(m.rule_id, tuple(sorted(m.group.items())), frozenset(m.events)) for m in got if isinstance(m, Alert)}
    assert alerts == {(a.rule_id, a.group, a.events) for a in fixture.alerts}


def test_rules_option_reports_only_the_rules_asked_for(spark_scan, pack):
    mass_deletion = "d7e97f60-0265-437d-82c5-a8489994eda7"
    got, _ = spark_scan(FIXTURES / "correlation", rule_ids=[mass_deletion])
    assert got == list(scan([FIXTURES / "correlation"], pack, rule_ids=[mass_deletion], jobs=1))
    assert {m.rule_id for m in got} == {mass_deletion}


@pytest.mark.parametrize("args, line", [e for e in readme_scan_examples() if "--engine" in e[0]])
def test_a_match_is_written_byte_for_byte_as_the_readme_shows_it(spark, args, line, capsys, monkeypatch):
    """The command's own output (the active session is the test's), as docs and the default engine write it."""
    monkeypatch.chdir(ROOT)
    assert cli.main(["scan", *args], root=ROOT) == 0
    assert capsys.readouterr().out.splitlines()[0] == line
