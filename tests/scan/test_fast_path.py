"""records.py's fast path: in AWS's compact delivery files only the records around a literal's hit are
cut out, and the scan finds exactly what the full path finds (same records, numbers, counts)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import literal_search
from cloudtrail_pack import records as R
from cloudtrail_pack.literal_search import FOLDS_TO_ASCII, LiteralSearch, search_literals
from cloudtrail_pack.records import Problem, RecordReader, decode
from cloudtrail_pack.scan import scan

from .helpers import DELETE_USER, LEAVE_ORG, record, s3, write

NAMES = frozenset({"deleteuser", "leaveorganization"})
ENGINES = ["hyperscan", "bytes.find"] if literal_search.hyperscan is not None else ["bytes.find"]


def search(engine: str = ENGINES[0]) -> LiteralSearch:
    return LiteralSearch(search_literals(NAMES), use_hyperscan=engine == "hyperscan")


def wanted(data: bytes, with_search: LiteralSearch | None) -> tuple[list, int, list]:
    """(number and eventID of every record whose event name a rule wants, records read, problems)."""
    reader = RecordReader(io.BufferedReader(io.BytesIO(data)), with_search)
    found, problems = [], []
    for item in reader:
        if isinstance(item, Problem):
            problems.append(str(item))
        elif item[2].eventName.lower() in NAMES:
            found.append((item[0], decode(item[1])["eventID"]))
    return found, reader.records, problems


def test_folds_to_ascii_is_every_character_whose_lower_case_holds_ascii():
    computed = [chr(c) for c in range(0x80, sys.maxunicode + 1) if any(ord(x) < 0x80 for x in chr(c).lower())]
    assert tuple(computed) == FOLDS_TO_ASCII


@pytest.mark.parametrize("engine", ENGINES)
def test_hits_ignore_ascii_case_and_stop_at_the_end_given(engine):
    s = search(engine)
    data = b'xx DeleteUser yy \\u0044 DELETEUSER'
    assert s.hits(data) == [13, 19, 34]
    assert s.hits(data, 0, 30) == [13, 19]
    assert s.hits(data, 14, 30) == [19]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"DeleteUser", b"leaveORGANIZATION", b"\\u", b"\\", "\u212a".encode(), b"\xc4",
                                 b"deleteuse", b"  "]), max_size=30))
def test_both_engines_find_the_same_hits(parts):
    data = b"".join(parts)
    assert search("bytes.find").hits(data) == search(ENGINES[0]).hits(data)


def test_a_window_without_hits_is_counted_not_cut():
    records = [record("GetUser", f"e{i}") for i in range(50)] + [record("DeleteUser", "hit")]
    data = s3(records)
    reader = RecordReader(io.BufferedReader(io.BytesIO(data)), search())
    items = [i for i in reader]
    assert [(i[0], decode(i[1])["eventID"]) for i in items] == [(51, "hit")]
    assert reader.records == 51 and reader.fast_windows > 0 and not reader.read_again


@pytest.mark.parametrize("engine", ENGINES)
def test_windows_and_seams(monkeypatch, engine):
    monkeypatch.setattr(R, "CHUNK", 700)  # a few records a window: hits on both sides of every seam
    records = [record(["GetUser", "DeleteUser", "DeleteUserPolicy", "LeaveOrganization"][i % 4], f"e{i}") for i in range(40)]
    data = s3(records)
    assert wanted(data, search(engine)) == wanted(data, None)
    reader = RecordReader(io.BufferedReader(io.BytesIO(data)), search(engine))
    list(reader)
    assert reader.fast_windows > 5


def test_a_nested_seam_sends_the_file_to_the_full_path_without_repeating_a_record(monkeypatch):
    monkeypatch.setattr(R, "CHUNK", 600)
    nested = record("GetUser", "nested", requestParameters={"list": [{"a": 1}, {"eventVersion": "x", "eventName": "DeleteUser"}]})
    records = [record("DeleteUser", "first")] + [record("GetUser", f"e{i}") for i in range(6)] + [nested, record("DeleteUser", "last")]
    data = s3(records)
    assert wanted(data, search()) == wanted(data, None) == ([(1, "first"), (9, "last")], 9, [])
    reader = RecordReader(io.BufferedReader(io.BytesIO(data)), search())
    list(reader)
    assert reader.read_again


@st.composite
def documents(draw):
    names = st.sampled_from(["GetUser", "DeleteUser", "deleteuser", "DeleteUserPolicy", "LeaveOrganization",
                             "Delete\u212aUser", "DescribeOrganization", "De\u0130eteUser"])
    rs = []
    for i in range(draw(st.integers(1, 30))):
        extra = draw(st.sampled_from([{}, {"requestParameters": {"userName": "DeleteUser"}},
                                      {"requestParameters": {"v": [{"eventVersion": "1", "k": "LeaveOrganization"}]}},
                                      {"requestParameters": {"note": 'say "DeleteUser" \\ \u00e9'}}]))
        rs.append(record(draw(names), f"e{i}", **extra))
    return rs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=documents(), chunk=st.integers(200, 5000))
@example(records=[record("DeleteUser", "e0")], chunk=200)
@example(records=[record("GetUser", "e0"), record("Delete\u212aUser", "e1")], chunk=200)
def test_fast_path_agrees_with_the_full_path(monkeypatch, records, chunk):
    monkeypatch.setattr(R, "CHUNK", chunk)
    data = s3(records)
    for engine in ENGINES:
        assert wanted(data, search(engine)) == wanted(data, None)


def test_escaped_event_name_is_found():
    data = s3([record("GetUser", "a")]).replace(b"]}", b',{"eventVersion":"1.09","eventTime":"2026-03-01T10:00:00Z",'
                                                 b'"eventSource":"iam.amazonaws.com","eventName":"\\u0044eleteUser",'
                                                 b'"eventID":"b"}]}')
    assert wanted(data, search()) == wanted(data, None) == ([(2, "b")], 2, [])


def test_scan_finds_the_same_on_both_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "CHUNK", 1000)
    records = [record("GetUser", f"g{i}") for i in range(40)]
    records[7] = record("DeleteUser", "del", requestParameters={"userName": "bob"})
    records[31] = record("LeaveOrganization", "leave", source="organizations.amazonaws.com")
    path = write(tmp_path / "a.json.gz", s3(records), gz=True)
    from cloudtrail_pack.engine.results import Summary
    from cloudtrail_pack.pack import load_pack

    pack = load_pack(Path(__file__).resolve().parents[2] / "sigma")
    summary = Summary()
    found = sorted((m.rule_id, m.eventID) for m in scan([str(path)], pack, jobs=1, summary=summary))
    assert found == sorted([(DELETE_USER, "del"), (LEAVE_ORG, "leave")])
    assert summary.events == 40


def test_check_every_record_reports_what_the_fast_path_only_counts(tmp_path, capfd):
    """The fast path does not decode a record without a literal, so a record there that is not CloudTrail
    goes unreported; --check-every-record reads every record, as every other layout is read."""
    from cloudtrail_pack.cli.main import main

    data = s3([record("GetUser", "a"), {"eventVersion": "1.09", "not": "cloudtrail"}, record("DeleteUser", "b")])
    path = write(tmp_path / "compact.json", data)
    root = Path(__file__).resolve().parents[2]
    assert main(["--root", str(root), "scan", str(path)]) == 0
    fast = capfd.readouterr()
    assert '"eventID":"b"' in fast.out and "not read" not in fast.err
    assert main(["--root", str(root), "scan", "--check-every-record", str(path)]) == 2
    full = capfd.readouterr()
    assert '"eventID":"b"' in full.out and "record 2: not a CloudTrail event" in full.err
