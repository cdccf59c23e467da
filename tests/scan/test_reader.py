"""records.RecordReader: every delivery format read record by record, each record not CloudTrail
reported with its number and skipped, the rest read; limits reported, never a crash."""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import records as R
from cloudtrail_pack.records import Problem, RecordReader, decode, read_records

from .helpers import jsonl, record, s3


def read(data: bytes):
    reader = RecordReader(io.BytesIO(data))
    out = [str(i) if isinstance(i, Problem) else (i[0], decode(i[1])["eventID"]) for i in reader]
    return reader.format, out


FIVE = [record(event_id=f"e{i}") for i in range(5)]


def test_s3_document_is_read_record_by_record():
    assert read(s3(FIVE)) == ("s3", [(i + 1, f"e{i}") for i in range(5)])


def test_pretty_printed_document_with_byte_order_mark():
    data = b"\xef\xbb\xbf" + json.dumps({"Records": FIVE}, indent=4).encode()
    assert read(data) == ("s3", [(i + 1, f"e{i}") for i in range(5)])


def test_array_of_records():
    assert read(orjson.dumps(FIVE)) == ("array", [(i + 1, f"e{i}") for i in range(5)])


def test_gzip_of_several_members_is_one_stream():
    data = gzip.compress(jsonl(FIVE[:2])) + gzip.compress(jsonl(FIVE[2:]))
    assert read(data) == ("jsonl", [(i + 1, f"e{i}") for i in range(5)])


def test_eventbridge_envelopes_give_their_detail():
    lines = b"".join(orjson.dumps({"version": "0", "detail-type": "AWS API Call via CloudTrail", "detail": r}) + b"\n"
                     for r in FIVE[:2])
    assert read(lines) == ("eventbridge", [(1, "e0"), (2, "e1")])


def test_one_pretty_printed_event():
    assert read(json.dumps(FIVE[0], indent=2).encode()) == ("document", [(1, "e0")])


@pytest.mark.parametrize("bad, reason", [
    ({"eventID": None}, "Expected `str`, got `null` - at `$.eventID`"),
    ({"eventID": 7}, "Expected `str`, got `int` - at `$.eventID`"),
    ({"eventTime": ["2026"]}, "Expected `str`, got `array` - at `$.eventTime`"),
    ({"userIdentity": "root"}, "Expected `object | null`, got `str` - at `$.userIdentity`"),
    ({"userIdentity": ["root"]}, "Expected `object | null`, got `array` - at `$.userIdentity`"),
])
def test_a_record_not_cloudtrail_is_reported_by_number_and_the_rest_read(bad, reason):
    broken = [dict(r) for r in FIVE]
    broken[1].update(bad)
    expected = [(1, "e0"), f"record 2: not a CloudTrail event ({reason})", (3, "e2"), (4, "e3"), (5, "e4")]
    assert read(s3(broken)) == ("s3", expected)
    assert read(jsonl(broken))[1] == [e.replace("record", "line") if isinstance(e, str) else e for e in expected]


def test_a_record_without_event_id():
    broken = [dict(r) for r in FIVE]
    del broken[0]["eventID"]
    assert read(s3(broken))[1][0] == "record 1: not a CloudTrail event (Object missing required field `eventID`)"


def test_one_bad_line_does_not_lose_its_file():
    data = jsonl(FIVE[:2]) + b"{not json\n" + jsonl(FIVE[2:])
    assert read(data)[1] == [(1, "e0"), (2, "e1"), "line 3: invalid JSON (JSON is malformed: object keys must be strings (byte 1))",
                             (4, "e2"), (5, "e3"), (6, "e4")]


def test_a_truncated_document_keeps_the_records_before_the_cut():
    data = s3(FIVE)
    assert read(data[:-60])[1] == [(1, "e0"), (2, "e1"), (3, "e2"), (4, "e3"),
                                   "record 5: truncated (the file ends inside a record); the rest of the file is not read"]


def test_a_syntax_error_in_a_document_ends_it_after_the_records_before_it(monkeypatch):
    monkeypatch.setattr(R, "CHUNK", 256)  # the error is met in the middle of the stream, not at its end
    text = s3(FIVE)
    cut = text.index(b'"eventID":"e2"')
    data = text[:cut] + b"," + text[cut:]
    fmt, out = read(data)
    assert out[:2] == [(1, "e0"), (2, "e1")] and len(out) == 3
    assert out[2].startswith("record 3: invalid JSON at byte") and out[2].endswith("the rest of the file is not read")


def test_empty_input_and_a_digest_file_say_why():
    assert read(b"")[1] == ["empty: no CloudTrail events"]
    assert read(b"\xef\xbb\xbf \n")[1] == ["empty: no CloudTrail events"]
    assert read(orjson.dumps({"awsAccountId": "111122223333", "digestStartTime": "x"}))[1] == [
        "line 1: not a CloudTrail event (Object missing required field `eventSource`)"]


def test_a_decompression_bomb_is_stopped_at_the_documented_limit(monkeypatch):
    monkeypatch.setattr(R, "RATIO_GRACE", 1 << 20)
    bomb = gzip.compress(s3(FIVE)[:-2] + b"," + b" " * (64 << 20) + b"]}")  # 64 MiB of blanks: ~1000 to 1
    fmt, out = read(bomb)
    assert out[-1].startswith(f"decompression bomb: more than {R.MAX_RATIO} times its compressed size")


def test_a_corrupt_gzip_is_reported_after_the_records_decoded_before_the_damage():
    """The gzip's last 8 bytes (CRC and length) are missing: every record was decoded, the damage is named."""
    assert read(gzip.compress(s3(FIVE))[:-8])[1] == [(i + 1, f"e{i}") for i in range(5)] + [
        "corrupt or truncated gzip (it ends before its end-of-stream marker)"]


def test_read_records_is_strict_and_names_the_line():
    with pytest.raises(R.RecordError, match="line 2: not a CloudTrail event"):
        read_records(io.BytesIO(jsonl([FIVE[0], {"a": 1}])))


# Hostile strings: record boundaries must never be seen inside a string or a nested object, whatever
# the chunk size (a cut point is tried from every '}' followed by ',').
hostile = st.lists(st.sampled_from(list('},{["]\\/*|"\n\u00e9\u2028') + ["},{", '"},{"', '\\"', "}]"]),
                   max_size=12).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(hostile, min_size=1, max_size=6), chunk=st.integers(16, 400), pretty=st.booleans())
def test_records_are_cut_exactly_whatever_their_strings_and_the_chunk_size(values, chunk, pretty):
    recs = [record(event_id=f"e{i}", userAgent=v, resources=[{"ARN": v}, {"ARN": "x"}], requestParameters={"p": {"q": [v, {}]}})
            for i, v in enumerate(values)]
    data = json.dumps({"Records": recs}, indent=2 if pretty else None).encode()
    old = R.CHUNK
    R.CHUNK = chunk
    try:
        reader = RecordReader(io.BytesIO(data))
        got = [decode(i[1]) for i in reader]
    finally:
        R.CHUNK = old
    assert got == recs


# ---- the document by its structure, damage, limits, depth (each named; the rest read) ----------------


@pytest.mark.parametrize("document", [
    {"x": 1, "Records": FIVE},  # a key before Records (a re-serialised file)
    {"Records": FIVE, "y": {"z": [{"a": "]},{"}, {"b": 2}]}},  # a member after Records, braces in it
    {"version": "1.0", "Records": FIVE, "digest": None},
], ids=["key-before", "member-after", "both"])
@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "pretty"])
def test_a_delivery_document_is_known_by_its_records_member_wherever_it_is(document, indent):
    assert read(json.dumps(document, indent=indent).encode()) == ("s3", [(i + 1, f"e{i}") for i in range(5)])


def test_an_escaped_records_key_is_still_the_records_member():
    data = s3(FIVE).replace(b'"Records"', b'"Rec\\u006frds"')
    assert read(data) == ("s3", [(i + 1, f"e{i}") for i in range(5)])


@pytest.mark.parametrize("after, problems", [
    (b"", []),
    (b"\n\n", []),
    (b" trailing", ["data after the end of the JSON document: not read"]),
    (b"}\n", ["data after the end of the JSON document: not read"]),
    (b" x\n", ["data after the end of the JSON document: not read"]),
])
@pytest.mark.parametrize("members", [b"", b', "y": {"a": [1, "]}"]}'], ids=["records-only", "members-after"])
def test_what_follows_a_delivery_document_is_named_after_its_records(members, after, problems):
    data = s3(FIVE)[:-1] + members + b"}" + after
    assert read(data)[1] == [(i + 1, f"e{i}") for i in range(5)] + problems


def test_other_members_that_are_not_json_are_named_after_the_records():
    assert read(s3(FIVE)[:-1] + b', "y": tru}')[1] == [(i + 1, f"e{i}") for i in range(5)] + [
        "invalid JSON in the document's members after its records: not read"]


def _gzip_cut(records_bytes: bytes, keep: float) -> tuple[bytes, bytes]:
    """(a gzip of the data cut at `keep` of its length, what that cut gzip still decompresses to)."""
    packed = gzip.compress(records_bytes, mtime=0)
    cut = packed[: int(len(packed) * keep)]
    return cut, zlib.decompressobj(31).decompress(cut)


@pytest.mark.parametrize("layout", ["s3", "jsonl"])
def test_a_truncated_gzip_keeps_every_record_decoded_before_the_damage(layout, monkeypatch):
    """A gzip cut short in its third piece: the records of every piece decoded before the cut are read
    (all but the one the cut falls in), then the damage is named where it is."""
    monkeypatch.setattr(R, "CHUNK", 4096)
    many = [record(event_id=f"e{i}", requestParameters={"userName": f"user-{i}", "n": i * 7919 % 1000}) for i in range(400)]
    data = s3(many) if layout == "s3" else jsonl(many)
    cut, prefix = _gzip_cut(data, 0.7)
    whole = sum(1 for r in many if (orjson.dumps(r) + (b"\n" if layout == "jsonl" else b"")) in prefix)
    fmt, out = read(cut)
    unit = "record" if layout == "s3" else "line"
    assert out[:-1] == [(i + 1, f"e{i}") for i in range(whole)] and whole > 100
    assert out[-1] == (f"{unit} {whole + 1}: corrupt or truncated gzip (it ends before its end-of-stream marker); "
                       "the rest of the file is not read")


def test_bytes_after_the_gzip_data_are_named_and_the_records_kept():
    data = gzip.compress(s3(FIVE), mtime=0)
    assert read(data + b"not gzip")[1] == [(i + 1, f"e{i}") for i in range(5)] + [
        f"bytes after the end of the gzip data (from byte {len(data)} of the file) are not gzip: not read"]
    assert read(data + b"\x00" * 512)[1] == [(i + 1, f"e{i}") for i in range(5)]  # padding is not damage


@pytest.mark.parametrize("layout", ["s3", "array", "jsonl"])
def test_a_record_over_the_limit_is_skipped_alone(layout, monkeypatch):
    """README: "one record or line over 64 MiB is reported and skipped" (here the limit is lowered)."""
    monkeypatch.setattr(R, "MAX_RECORD", 3000)
    monkeypatch.setattr(R, "CHUNK", 1024)
    recs = [FIVE[0], record(event_id="big", pad="x" * 5000), FIVE[2], record(event_id="big2", pad=[{"a": "]}"}] * 600), FIVE[4]]
    data = {"s3": s3, "array": orjson.dumps, "jsonl": jsonl}[layout](recs)
    unit = "line" if layout == "jsonl" else "record"
    assert read(data)[1] == [(1, "e0"), f"{unit} 2: larger than 0 MiB (limit: records.MAX_RECORD)", (3, "e2"),
                             f"{unit} 4: larger than 0 MiB (limit: records.MAX_RECORD)", (5, "e4")]


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


TOO_DEEP = f"nested 1,001 levels deep: more than a JSON decoder can follow (Python's recursion limit, {sys.getrecursionlimit():,})"


@pytest.mark.parametrize("layout", ["s3", "array", "jsonl"])
def test_a_record_nested_too_deeply_is_named_alone(layout):
    deep = orjson.dumps(FIVE[1])[:-1] + b',"requestParameters":' + nested(1000) + b"}"
    parts = [orjson.dumps(FIVE[0]), deep, orjson.dumps(FIVE[2])]
    data = (b'{"Records":[' + b",".join(parts) + b"]}" if layout == "s3" else b"[" + b",".join(parts) + b"]"
            if layout == "array" else b"\n".join(parts) + b"\n")
    unit = "line" if layout == "jsonl" else "record"
    assert read(data)[1] == [(1, "e0"), f"{unit} 2: {TOO_DEEP}", (3, "e2")]


def test_a_document_nested_too_deeply_is_named():
    assert read(b'{"a":\n' + nested(1000) + b"}") == ("document", [TOO_DEEP])
