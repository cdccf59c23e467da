"""`build.py scan` agrees with the reference engine, reads every delivery format, and reports broken input."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
import json
from pathlib import Path

import pytest

from cloudtrail_pack import cli
from cloudtrail_pack.engine.prefilter import required_event_names
from cloudtrail_pack.engine.results import Alert, Summary
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.scan import scan
from fixture_corpus import FIXTURE_FILES, FIXTURES

ROOT = Path(__file__).resolve().parents[1]
PACK = load_pack(ROOT / "sigma")


def detections(matches):
    out: dict[str, set[str]] = {}
    for m in matches:
        if not isinstance(m, Alert):
            out.setdefault(m.eventID, set()).add(m.rule_id)
    return out


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=[str(f.path) for f in FIXTURE_FILES])
def test_scan_reports_exactly_what_the_manifest_declares(fixture):
    matches = list(scan([FIXTURES / fixture.path], PACK, jobs=1))
    assert detections(matches) == {k: set(v) for k, v in fixture.expect.items() if v}
    alerts = {(m.rule_id, tuple(sorted((k, v.lower()) for k, v in m.group.items())), frozenset(m.events))
              for m in matches if isinstance(m, Alert)}
    assert alerts == {(a.rule_id, a.group, a.events) for a in fixture.alerts}


def test_scan_of_the_whole_corpus_in_parallel_finds_every_declared_match():
    summary = Summary()
    matches = list(scan([FIXTURES / f.path for f in FIXTURE_FILES], PACK, jobs=2, summary=summary))
    expected = {k: set(v) for f in FIXTURE_FILES for k, v in f.expect.items() if v}
    assert detections(matches) == expected
    assert summary.events == sum(len(f.records) for f in FIXTURE_FILES)
    assert summary.skipped == []


def record(event_name, event_id, source="iam.amazonaws.com", time="2026-03-01T10:00:00Z"):
    return {"eventVersion": "1.09", "eventTime": time, "eventSource": source, "eventName": event_name,
            "eventID": event_id, "awsRegion": "us-east-1", "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}


def test_prefilter_never_hides_an_escaped_event_name(tmp_path):
    """JSON may spell DeleteUser as Delete\\u0055ser; the fast path must not skip that file."""
    text = json.dumps({"Records": [record("DeleteUser", "e1")]}).replace("DeleteUser", "Delete\\u0055ser")
    (tmp_path / "escaped.json").write_text(text)
    assert detections(scan([tmp_path], PACK, jobs=1)) == {"e1": {"0b40a563-9611-430c-ac03-6536096733f9"}}


def test_event_names_are_matched_case_insensitively_as_sigma_does(tmp_path):
    (tmp_path / "lower.jsonl").write_text(json.dumps(record("deleteuser", "e2")) + "\n")
    assert detections(scan([tmp_path], PACK, jobs=1)) == {"e2": {"0b40a563-9611-430c-ac03-6536096733f9"}}


def test_broken_files_are_reported_and_skipped(tmp_path):
    (tmp_path / "good.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [record("LeaveOrganization", "e3", "organizations.amazonaws.com")]}).encode()))
    (tmp_path / "truncated.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [record("GetUser", "e4")]}).encode())[:-10])
    (tmp_path / "cut.json").write_text(json.dumps({"Records": [record("GetUser", "e5")]})[:-30])
    (tmp_path / "digest.json").write_text(json.dumps({"awsAccountId": "111122223333", "digestStartTime": "x"}))
    summary = Summary()
    matches = list(scan([tmp_path], PACK, jobs=1, summary=summary))
    assert detections(matches) == {"e3": {"bb3c7f15-92b2-4692-b858-39e6562b8704"}}
    assert sorted(Path(p).name for p, _ in summary.skipped) == ["cut.json", "digest.json", "truncated.json.gz"]
    reasons = dict((Path(p).name, r) for p, r in summary.skipped)
    assert "gzip" in reasons["truncated.json.gz"] and "CloudTrail" in reasons["digest.json"]


def test_scan_command_exit_code_says_input_was_skipped(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text(json.dumps(record("DeleteUser", "e6")) + "\n")
    assert cli.main(["scan", str(tmp_path), "--jobs", "1"], root=ROOT) == 0
    out, err = capsys.readouterr()
    line = json.loads(out.splitlines()[0])
    assert line["rule_id"] == "0b40a563-9611-430c-ac03-6536096733f9" and line["eventID"] == "e6"
    assert line["file"].endswith("a.jsonl") and line["principal"] == "arn:aws:iam::111122223333:root"
    assert "1 files, 1 events" in err
    (tmp_path / "b.json").write_text("not json")
    assert cli.main(["scan", str(tmp_path), "--jobs", "1"], root=ROOT) == 2


def test_scan_rules_option_selects_rules(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(record(n, f"e{n}")) for n in ("DeleteUser", "DeactivateMFADevice")) + "\n")
    assert cli.main(["scan", str(tmp_path), "--jobs", "1", "--rules", "547ae2af-3af7-419c-96c5-6b20daf00fef"], root=ROOT) == 0
    out = capsys.readouterr().out
    assert [json.loads(l)["eventID"] for l in out.splitlines()] == ["eDeactivateMFADevice"]


def test_prefilter_derives_event_names_from_conditions(pack):
    names = {r.title: required_event_names(r.rule) for r in pack.rules if not r.is_correlation}
    assert names["AWS IAM User Access Key Deleted or Deactivated"] == {"deleteaccesskey", "updateaccesskey"}
    assert names["AWS Account Left the Organization"] == {"leaveorganization"}


def test_prefilter_makes_no_claim_under_not_or_wildcards():
    from sigma.collection import SigmaCollection

    def names(detection):
        rule = SigmaCollection.from_yaml(
            "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n" + detection
        ).rules[0]
        return required_event_names(rule)

    assert names("  sel: {eventName: DeleteUser}\n  f: {eventName: GetUser}\n  condition: sel or not f\n") is None
    assert names("  sel: {eventName|startswith: Delete}\n  condition: sel\n") is None
    assert names("  sel: {userIdentity.type: Root}\n  condition: sel\n") is None
    assert names("  a: {eventName: [A, B]}\n  b: {eventName: B}\n  condition: a and b\n") == {"b"}


_ORPHAN = r"""
import ctypes, os, sys, tempfile, threading, time
from cloudtrail_pack import scan_pool

spool = tempfile.mkdtemp(prefix="cloudtrail-scan-")
print(spool, flush=True)
parent = os.getpid()
child = os.fork()
if child == 0:  # a worker, as the pool's initializer sets it up, then waiting on its pipe
    scan_pool._end_with_parent(parent, spool)
    time.sleep(30)
    os._exit(0)
time.sleep(1)  # the worker has asked to be told
threading.Thread(target=lambda: (time.sleep(3), os._exit(0)), daemon=True).start()
ctypes.CDLL(None).pthread_exit(None)  # the main thread (the worker's forker) exits first, as under SIGKILL
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_a_worker_whose_scan_dies_thread_by_thread_removes_the_spools():
    """A SIGKILLed scan's threads exit one by one: when its main thread goes first, the kernel signals the worker
    while another thread of the dying scan is its parent, so getppid() still named the scan and the worker left
    without removing the spools (tests/test_cli.py's SIGKILL test failed now and then under load)."""
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, cwd=ROOT)
    spool = Path(proc.stdout.readline().decode().strip())
    try:
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while spool.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not spool.exists()
    finally:
        proc.kill()
        shutil.rmtree(spool, ignore_errors=True)
