"""One bad record never costs a match: it is reported with its file and number, and skipped."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cloudtrail_pack import cli
from cloudtrail_pack.engine.results import Alert, Summary
from cloudtrail_pack.scan import scan
from fixture_corpus import FIXTURE_FILES, FIXTURES

from .helpers import DELETE_USER, LEAVE_ORG, MASS_DELETION, jsonl, record, s3, write

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "cloudtrail-pack"

BAD_RECORDS = [
    {k: v for k, v in record(event_id="x").items() if k != "eventID"},  # no eventID
    record(event_id="x1", userIdentity="root"),  # userIdentity a string
    record(event_id="x2", userIdentity=["root"]),  # ... or a list
    record(event_id=3),  # eventID of the wrong type
    record(event_id="x4", time=1767225600),  # eventTime of the wrong type
    ["not", "an", "event"],
]


def test_bad_records_first_lose_no_fixture_match(tmp_path):
    """The broken file scans first; every match the manifest declares is still reported."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    (corpus / "manifest.yml").unlink()
    write(corpus / "0_broken.json", s3(BAD_RECORDS))
    summary = Summary()
    matches = list(scan([corpus], pack(), jobs=2, summary=summary))
    expected = {(e, r) for f in FIXTURE_FILES for e, rules in f.expect.items() for r in rules}
    assert {(m.eventID, m.rule_id) for m in matches if not isinstance(m, Alert)} == expected
    broken = str(corpus / "0_broken.json")
    assert [(p, r.split(":")[0]) for p, r in summary.skipped] == [(broken, f"record {i}") for i in range(1, 7)]
    assert summary.bad_records == 6


def test_a_bad_record_inside_a_correlation_burst(tmp_path):
    burst = [record(event_id=f"e{i}", requestParameters={"userName": f"u{i}"}) for i in range(3)]
    write(tmp_path / "a.json", s3(burst[:1] + [record(event_id=7), record(event_id="x", time=["t"])] + burst[1:]))
    summary = Summary()
    alerts = [m for m in scan([tmp_path], pack(), jobs=1, summary=summary) if isinstance(m, Alert)]
    assert {a.rule_id: a.events for a in alerts}["d7e97f60-0265-437d-82c5-a8489994eda7"] == ["e0", "e1", "e2"]
    assert [r for _, r in summary.skipped] == [
        "record 2: not a CloudTrail event (Expected `str`, got `int` - at `$.eventID`)",
        "record 3: not a CloudTrail event (Expected `str`, got `array` - at `$.eventTime`)",
    ]


def test_damage_in_records_the_prefilter_skips_is_reported(tmp_path):
    write(tmp_path / "a.jsonl", jsonl([record("GetUser", "e1"), record("GetUser", 2)]))
    summary = Summary()
    assert list(scan([tmp_path], pack(), jobs=1, summary=summary)) == []
    assert [r for _, r in summary.skipped] == ["line 2: not a CloudTrail event (Expected `str`, got `int` - at `$.eventID`)"]


def test_the_command_exits_2_and_lists_each_bad_record(tmp_path, capsys):
    write(tmp_path / "a.jsonl", jsonl([record(event_id="e1"), record(event_id=2)]))
    assert cli.main(["scan", str(tmp_path), "--jobs", "1"], root=ROOT) == 2
    out, err = capsys.readouterr()
    assert [orjson.loads(l)["eventID"] for l in out.splitlines()] == ["e1"]
    assert f"skipped {tmp_path / 'a.jsonl'}: line 2: not a CloudTrail event" in err


def test_brackets_in_paths_and_values_are_printed_as_they_are(tmp_path, capsys):
    folder = tmp_path / "[bold]logs[/bold] :smile:"
    write(folder / "a.jsonl", jsonl([record(event_id="[red]e1[/]", arn="[/x]"), record(event_id=2)]))
    assert cli.main(["scan", str(folder), "--jobs", "1", "--format", "table"], root=ROOT) == 2
    out, err = capsys.readouterr()
    assert "[red]e1[/]" in out and "[/x]" in out
    assert f"skipped {folder / 'a.jsonl'}: line 2:" in err


@pytest.mark.skipif(not COMMAND.exists(), reason="the project is not installed (make test installs it)")
def test_standard_input_is_read(tmp_path):
    data = s3([record(event_id="e1"), record("LeaveOrganization", "e2", "organizations.amazonaws.com")])
    done = subprocess.run([str(COMMAND), "--root", str(ROOT), "scan", "-"], input=data, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [(m["rule_id"], m["file"]) for m in map(orjson.loads, done.stdout.splitlines())] == [
        (DELETE_USER, "-"), (LEAVE_ORG, "-")]


@pytest.mark.skipif(not COMMAND.exists(), reason="the project is not installed (make test installs it)")
def test_ctrl_c_still_prints_the_summary():
    """SIGINT while the scan waits for more input on a pipe: the match so far is out, then the summary."""
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            # as a shell starts it: Ctrl-C's default action, whatever this test process inherited
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.stdin.write(jsonl([record(event_id="e1")]))
    proc.stdin.flush()  # and left open: the scan reads on
    assert orjson.loads(proc.stdout.readline())["eventID"] == "e1"  # flushed as soon as it matched
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130
    assert "interrupted: the figures below cover what was scanned before Ctrl-C" in err
    assert "1 matches in" in err and "AWS IAM User Deleted" in err
    assert "Traceback" not in err


def pack():
    from cloudtrail_pack.pack import load_pack

    return load_pack(ROOT / "sigma")


def test_every_input_is_scanned_or_reported(tmp_path):
    write(tmp_path / "real" / "a.jsonl", jsonl([record(event_id="e1")]))
    logs = tmp_path / "logs"
    logs.mkdir()
    os.symlink(tmp_path / "real", logs / "linked")  # a symlinked sub-folder is read
    os.symlink(logs, logs / "loop")
    os.symlink(tmp_path / "nowhere", logs / "dangling")
    os.mkfifo(logs / "fifo")
    (logs / "empty").mkdir()
    summary = Summary()
    matches = list(scan([logs], pack(), jobs=1, summary=summary))
    assert [(m.eventID, m.file) for m in matches] == [("e1", str(logs / "linked" / "a.jsonl"))]
    assert [(Path(p).name, r.split(":")[0]) for p, r in summary.skipped] == [
        ("dangling", "dangling symbolic link"), ("empty", "empty folder"),
        ("fifo", "not a regular file (a FIFO, socket or device)"), ("loop", "already scanned")]


def test_a_record_a_correlation_cannot_place_in_time_is_named_and_its_detection_kept(tmp_path, capsys):
    """eventTime a string that is not a time: the record's own match is reported, the correlations over
    the other records still fire, and the record is named with the reason (exit 2)."""
    times = ["2026-03-01T10:00:00Z", "yesterday", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"]
    write(tmp_path / "a.jsonl", jsonl([record(event_id=f"e{i}", time=t, requestParameters={"userName": f"u{i}"})
                                       for i, t in enumerate(times)]))
    assert cli.main(["scan", str(tmp_path), "--jobs", "1"], root=ROOT) == 2
    out, err = capsys.readouterr()
    matches = [orjson.loads(line) for line in out.splitlines()]
    assert [m["eventID"] for m in matches if "correlation" not in m] == ["e0", "e1", "e2", "e3"]
    mass = [m for m in matches if m["rule_id"] == MASS_DELETION]
    assert [m["events"] for m in mass] == [["e0", "e2", "e3"]]
    assert (f"skipped {tmp_path / 'a.jsonl'}: line 2: eventTime 'yesterday' is not a time: left out of the "
            "correlations (AWS IAM Access Removed From Several Users by One Principal; AWS IAM Mass User Deletion; "
            "AWS IAM User Created Then Deleted by the Same Principal; "
            "AWS IAM User Credentials Removed Then User Deleted by the Same Principal); its own detections are "
            "reported") in err


def test_a_counted_value_sqlite_cannot_hold_is_named_not_fatal(tmp_path):
    """A principal that is an integer beyond 64 bits (a group-by value of the correlations): named, and
    the scan, its other detections and correlations go on (it stopped the scan with an OverflowError)."""
    burst = [record(event_id=f"e{i}", requestParameters={"userName": f"u{i}"}) for i in range(3)]
    odd = record(event_id="odd", arn=2 ** 70)
    write(tmp_path / "a.json", s3(burst + [odd]))
    summary = Summary()
    matches = list(scan([tmp_path], pack(), jobs=1, summary=summary))
    assert sorted(m.eventID for m in matches if not isinstance(m, Alert)) == ["e0", "e1", "e2", "odd"]
    assert [m.events for m in matches if m.rule_id == MASS_DELETION] == [["e0", "e1", "e2"]]
    assert [r for _, r in summary.skipped] == [
        f"record 4: userIdentity.arn {2 ** 70} is outside SQLite's 64-bit integers: left out of the correlations "
        "(AWS IAM Access Removed From Several Users by One Principal; AWS IAM Mass User Deletion; AWS IAM User "
        "Created Then Deleted by the Same Principal; AWS IAM User "
        "Credentials Removed Then User Deleted by the Same Principal); its own detections are reported"]


def test_report_values_any_json_writer_takes(tmp_path, capsys):
    """A matched record whose reported fields hold an integer beyond 64 bits or a value nested 300 levels
    (orjson refuses both): the match is written, those values as their JSON text."""
    nested = 1
    for _ in range(300):
        nested = [nested]
    write(tmp_path / "a.jsonl", jsonl([record(event_id="e1", errorCode=2 ** 70, sourceIPAddress=nested)]))
    assert cli.main(["scan", str(tmp_path), "--jobs", "1"], root=ROOT) == 0
    (match,) = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert match["errorCode"] == str(2 ** 70)
    assert match["sourceIPAddress"] == "[" * 300 + "1" + "]" * 300


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_nested_too_deeply_is_named_and_the_others_scanned(tmp_path, capsys, jobs):
    """The issue's file: `[` 1000 levels deep, read first; with one and with two workers."""
    write(tmp_path / "a_deep.json", b"[" * 1000 + b"]" * 1000)
    write(tmp_path / "b_deep_record.jsonl", orjson.dumps(record(event_id="d"))[:-1] + b',"requestParameters":'
          + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}\n")
    write(tmp_path / "c.json", s3([record(event_id="e1")]))
    assert cli.main(["scan", str(tmp_path), "--jobs", jobs], root=ROOT) == 2
    out, err = capsys.readouterr()
    assert [orjson.loads(line)["eventID"] for line in out.splitlines()] == ["e1"]
    assert f"skipped {tmp_path / 'a_deep.json'}: record 1: not a CloudTrail event (Expected `object`, got `array`)" in err
    assert f"skipped {tmp_path / 'b_deep_record.jsonl'}: line 1: nested 1,001 levels deep" in err


def test_a_record_over_64_mib_in_a_delivery_document_is_skipped_alone(tmp_path):
    """README, Limits: one record over 64 MiB is reported and skipped; the records after it are read."""
    big = record(event_id="big", requestParameters={"policyDocument": "x" * (65 << 20)})
    data = b'{"Records":[' + b",".join([orjson.dumps(record(event_id="e1")), orjson.dumps(big),
                                        orjson.dumps(record(event_id="e2"))]) + b"]}"
    write(tmp_path / "a.json", data)
    del big, data
    summary = Summary()
    assert [m.eventID for m in scan([tmp_path], pack(), rule_ids=[DELETE_USER], jobs=1, summary=summary)] == ["e1", "e2"]
    assert summary.skipped == [(str(tmp_path / "a.json"), "record 2: larger than 64 MiB (limit: records.MAX_RECORD)")]


def test_a_truncated_gzip_keeps_the_events_before_the_cut(tmp_path):
    """The issue's case: a 3.7 MB gzipped delivery file cut short kept 0 of its 1583 events."""
    events = [record(event_id=f"e{i}", requestParameters={"userName": f"user-{i}", "padding": "p" * 2000})
              for i in range(1583)]
    packed = gzip.compress(s3(events), mtime=0)
    write(tmp_path / "a.json.gz", packed[: len(packed) * 9 // 10])
    summary = Summary()
    found = [m.eventID for m in scan([tmp_path], pack(), rule_ids=[DELETE_USER], jobs=1, summary=summary)]
    assert len(found) > 1300 and found == [f"e{i}" for i in range(len(found))]
    assert summary.events == len(found)
    assert summary.skipped == [(str(tmp_path / "a.json.gz"), f"record {len(found) + 1}: corrupt or truncated gzip "
                                "(it ends before its end-of-stream marker); the rest of the file is not read")]
