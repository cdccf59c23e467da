"""Whatever a file holds, it is that file's (or that record's) fault, never the scan's: random bytes and
random JSON shapes, plain and gzipped, whole or cut short, beside a good file. Nothing raises, every
input is named as scanned or skipped with a one-line reason, and the good file's matches are kept; in a
delivery document or JSON lines, every record before the damage is read."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import records as R
from cloudtrail_pack.engine.results import Summary
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.records import Problem, RecordReader, decode
from cloudtrail_pack.scan import scan

from .helpers import jsonl, record, s3

PACK = load_pack(Path(__file__).resolve().parents[2] / "sigma")
GOOD = [record(event_id="good-1"), record("LeaveOrganization", "good-2", "organizations.amazonaws.com"),
        *(record(event_id=f"burst-{i}", requestParameters={"userName": f"u{i}"}) for i in range(3))]

KEYS = st.sampled_from(["eventID", "eventName", "eventSource", "eventTime", "userIdentity", "arn", "Records",
                        "detail", "detail-type", "requestParameters", "userName", "sourceIPAddress", "errorCode"])
SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["DeleteUser", "iam.amazonaws.com", "2026-03-01T10:00:00Z"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=5),
                      max_leaves=24)


def deep(depth: int, kind: str) -> object:
    """A value nested `depth` levels (built without recursion)."""
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def deep_text(depth: int, kind: str) -> bytes:
    """The JSON text of `deep(depth, kind)`, for depths no encoder reaches."""
    return (b"[" * depth + b"1" + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"1" + b"}" * depth)


# Hypothesis raises the recursion limit while a test runs, so the depths that matter are given as text,
# beyond any limit: the issue's 1000, then 5,000 and 60,000.
DEPTHS = st.sampled_from([1000, 5000, 60000])

# events that pass the head check and reach the matcher, the correlations and the report: any value
# in the fields a report, a group or a rule reads (past orjson's 255 levels too)
EVENTS = st.builds(
    lambda name, time, arn, params, ip, extra: {
        **record(name, "x", time=time, arn="a"), "userIdentity": {"type": "IAMUser", "arn": arn, "userName": arn},
        "requestParameters": params, "sourceIPAddress": ip, **extra},
    st.sampled_from(["DeleteUser", "DeleteLoginProfile", "LeaveOrganization", "GetUser"]),
    st.sampled_from(["2026-03-01T10:00:00Z", "not a time", "", "2026-03-01"]),
    VALUES | st.integers(2 ** 64, 2 ** 80),
    VALUES | st.builds(deep, st.integers(250, 300), st.sampled_from(["list", "dict"])),
    VALUES, st.dictionaries(KEYS, VALUES, max_size=3),
)
ITEMS = st.lists(EVENTS | VALUES, max_size=5)


@st.composite
def contents(draw) -> bytes:
    """A file: random bytes, or records in a delivery layout, then perhaps cut, padded, gzipped."""
    layout = draw(st.sampled_from(["bytes", "value", "s3", "s3-late", "array", "jsonl", "pretty", "envelopes", "deep"]))
    items = draw(ITEMS)
    for i, item in enumerate(items):
        if isinstance(item, dict) and "eventID" in item:
            item["eventID"] = f"bad-{i}"
    dumps = lambda v: msgspec_json(v)  # noqa: E731
    data = {
        "bytes": lambda: draw(st.binary(max_size=300)),
        "value": lambda: dumps(draw(VALUES)),
        "s3": lambda: dumps({"Records": items}),
        "s3-late": lambda: dumps({"x": draw(VALUES), "Records": items, "y": draw(VALUES)}),
        "array": lambda: dumps(items),
        "jsonl": lambda: b"".join(dumps(i) + b"\n" for i in items),
        "pretty": lambda: json.dumps({"Records": [json.loads(dumps(i)) for i in items]}, indent=2).encode(),
        "envelopes": lambda: b"".join(dumps({"detail-type": "AWS API Call via CloudTrail", "detail": i}) + b"\n" for i in items),
        "deep": lambda: draw(st.sampled_from([b"%s", b'{"Records":[%s]}', b"[%s]", b"%s\n"])).replace(
            b"%s", dumps(record("GetUser", "deep"))[:-1] + b',"requestParameters":'
            + deep_text(draw(DEPTHS), draw(st.sampled_from(["list", "dict"]))) + b"}"),
    }[layout]()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data += draw(st.sampled_from([b"", b"]}", b"\n{", b"garbage", b"\x00" * 3]))
    if draw(st.booleans()):
        packed = gzip.compress(data, mtime=0)
        data = draw(st.sampled_from([packed, packed[: len(packed) * 2 // 3], packed + b"tail", packed + packed]))
    return data


def msgspec_json(value) -> bytes:
    import msgspec

    return msgspec.json.encode(value)


def good_matches(folder: Path) -> set:
    good = folder / "good.json"
    good.write_bytes(s3(GOOD))
    return {(getattr(m, "eventID", None), m.rule_id, tuple(getattr(m, "events", ()))) for m in scan([good], PACK, jobs=1)}


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    return good_matches(tmp_path_factory.mktemp("good"))


def scan_beside_good(folder: Path, data: bytes, jobs: int = 1) -> tuple[set, Summary]:
    (folder / "good.json").write_bytes(s3(GOOD))
    (folder / "other.json").write_bytes(data)
    summary = Summary()
    matches = list(scan([folder / "good.json", folder / "other.json"], PACK, jobs=jobs, summary=summary))
    return {(getattr(m, "eventID", None), m.rule_id, tuple(getattr(m, "events", ()))) for m in matches}, summary


def deep_record(depth: int) -> bytes:
    """A delivery document: an event, then a DeleteUser whose requestParameters are nested `depth` levels."""
    return (s3([record("GetUser", "d1")])[:-2] + b"," + orjson.dumps(record(event_id="d2"))[:-1]
            + b',"requestParameters":' + deep_text(depth, "dict") + b"}]}")


DEEP_RECORD = deep_record(1000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.data_too_large])
@given(data=contents())
@example(data=b"[" * 1000 + b"]" * 1000)  # the issue's file: 1000 levels
@example(data=deep_text(60000, "list"))  # deeper than any recursion limit
@example(data=b"[" * 100000)  # never closed
@example(data=DEEP_RECORD)
@example(data=gzip.compress(deep_record(60000))[:-20])
@example(data=orjson.dumps({"x": 1, "Records": [record(event_id="late", arn=str(2 ** 70))]}))
@example(data=b'{"Records":[' + orjson.dumps(record(event_id="big"))[:-1] + b',"errorCode":' + str(2 ** 70).encode() + b"}]}")
@example(data=jsonl([record(event_id=f"t{i}", time="yesterday", requestParameters={"userName": f"u{i}"}) for i in range(3)]))
@example(data=b"\x1f\x8b")
@example(data=b"")
def test_any_file_beside_a_good_one_costs_nothing_of_it(tmp_path_factory, expected, data):
    found, summary = scan_beside_good(tmp_path_factory.mktemp("any"), data)
    good = {m for m in found if m[0] is None or m[0].startswith(("good", "burst"))}
    assert {m for m in good if m[0] is not None} == {m for m in expected if m[0] is not None}
    assert summary.files == 2  # both named: scanned, or skipped with the reason
    skipped = {Path(p).name for p, _ in summary.skipped}
    assert skipped <= {"other.json"}
    for _, reason in summary.skipped:
        assert reason and "\n" not in reason and "Traceback" not in reason


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_issues_deep_file_beside_good_ones(tmp_path, expected, jobs):
    """A file of `[` 1000 levels deep, scanned first, with one and two workers: named, and every other
    file still read (it stopped the scan with a RecursionError)."""
    found, summary = scan_beside_good(tmp_path, b"[" * 1000 + b"]" * 1000, jobs=jobs)
    assert found == expected
    (tmp_path / "other.json").write_bytes(DEEP_RECORD)
    found, summary = scan_beside_good(tmp_path, DEEP_RECORD, jobs=jobs)
    assert found == expected
    assert [(Path(p).name, r) for p, r in summary.skipped] == [("other.json", f"record 2: {R.too_deep(1001)}")]


# ---- the reader alone: every record before the damage is read -----------------------------------------


def layout_of(records: list[dict], layout: str) -> tuple[bytes, list[bytes]]:
    """The file's bytes, and each record's bytes as they appear in it."""
    texts = [orjson.dumps(r) for r in records]
    if layout == "jsonl":
        return b"".join(t + b"\n" for t in texts), [t + b"\n" for t in texts]
    body = b"[" + b",".join(texts) + b"]"
    return {"array": body, "s3": b'{"Records":' + body + b"}",
            "s3-late": b'{"version":"1.0","Records":' + body + b',"more":[{"a":"},{"}]}'}[layout], texts


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), layout=st.sampled_from(["s3", "s3-late", "array", "jsonl"]), where=st.floats(0, 1),
       gz=st.booleans(), chunk=st.sampled_from([64, 256, 4096, 1 << 22]))
@example(n=3, layout="s3-late", where=1.0, gz=False, chunk=64)
def test_every_record_before_the_damage_is_read(n, layout, where, gz, chunk):
    recs = [record(event_id=f"e{i}", requestParameters={"userName": "x" * (i * 37 % 200)}) for i in range(n)]
    data, texts = layout_of(recs, layout)
    whole_file = gzip.compress(data, mtime=0) if gz else data
    content = whole_file[: int(len(whole_file) * where)] if where < 1 else whole_file
    prefix = zlib.decompressobj(31).decompress(content) if gz else content
    whole = 0
    for end in (data.index(t) + len(t) for t in texts):
        if end <= len(prefix):
            whole += 1
    old = R.CHUNK
    R.CHUNK = chunk
    try:
        reader = RecordReader(io.BytesIO(content))
        items = list(reader)
    finally:
        R.CHUNK = old
    read = [decode(i[1])["eventID"] for i in items if not isinstance(i, Problem)]
    problems = [str(i) for i in items if isinstance(i, Problem)]
    assert read[:whole] == [f"e{i}" for i in range(whole)]
    assert len(read) <= whole + (layout == "jsonl" and not gz)  # a last line cut after its '}' is whole
    last = content.rsplit(b"\n", 1)[-1]  # plain JSON lines cut after a line, or after a '}' ending one: valid
    clean_cut = layout == "jsonl" and not gz and content and (last == b"" or last + b"\n" in texts)
    if content == whole_file:
        assert problems == [] and read == [f"e{i}" for i in range(n)]
    elif clean_cut:
        assert problems == [] and read == [f"e{i}" for i in range(whole + (last != b""))]
    else:
        assert problems and all("\n" not in p for p in problems)  # the damage is named
