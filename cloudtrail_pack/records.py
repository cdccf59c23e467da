"""Reading CloudTrail records as users have them on disk, one record at a time.

Formats, detected from the content (a mixed folder needs no flags), each optionally gzipped (several gzip
members are read as one stream) and optionally starting with a UTF-8 byte-order mark:

- S3 delivery files: one JSON document `{"Records": [event, ...]}`, compact or pretty-printed;
- a JSON array of events `[event, ...]`;
- JSON lines, one event per line (CloudWatch Logs and CloudTrail Lake exports), or one EventBridge
  "AWS API Call via CloudTrail" envelope per line (the record is the envelope's `detail`);
- any other single JSON document of at most `MAX_DOCUMENT` bytes (one event, one envelope, a delivery
  document whose `Records` is not its first key).

`RecordReader` streams: an S3 document is cut into records without ever being held whole. msgspec
validates each cut (`list[msgspec.Raw]` checks the JSON syntax of every record at C speed and hands
back each record's bytes undecoded), so a record is never split inside a string or a nested object.
Every record is checked against the shape `scan` relies on (`_Head`: the four string fields every
CloudTrail event has, `userIdentity` an object when present) without being decoded; a record that fails
is reported with its number (line number for JSON lines) and the reason, and the next one is read.
Only in a delivery document or array does a JSON syntax error end the file: what follows a syntax
error has no reliable structure. Records before it are still read.

Limits (each reported with the reason, never a crash): one record or line larger than `MAX_RECORD`;
a gzip that expands more than `MAX_RATIO` times its compressed size once past `RATIO_GRACE` bytes (a
decompression bomb: CloudTrail's JSON gzips about 10 to 30 to 1, deflate's ceiling is about 1032 to 1).
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import msgspec
from isal import isal_zlib

FORMATS = ("s3", "s3-gzip", "array", "jsonl", "eventbridge", "document")

CHUNK = 1 << 22  # decompressed bytes read at a time
MAX_RECORD = 64 << 20  # one record (or line) larger than this is reported and skipped
MAX_DOCUMENT = 64 << 20  # a JSON document that is not a delivery file or array is read whole up to this
MAX_RATIO = 200  # decompressed / compressed bytes above which a gzip is treated as a bomb ...
RATIO_GRACE = 64 << 20  # ... once this many bytes have come out of it
BOM = b"\xef\xbb\xbf"


class RecordError(ValueError):
    """Input that is not readable CloudTrail: the reason, and the line where there is one."""

    def __init__(self, reason: str, line: int | None = None, path: Path | None = None):
        self.reason, self.line, self.path = reason, line, path
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else f"line {line}: " if line else ""
        super().__init__(f"{where}{reason}")


@dataclass(frozen=True)
class CloudTrailFile:
    path: Path
    format: str  # one of FORMATS
    records: list[dict]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a file that was not read: `where` is "record N", "line N" or "" (the file itself)."""

    where: str
    reason: str
    fatal: bool = False  # nothing after it in the file was read

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


class _Identity(msgspec.Struct):
    """`userIdentity` is an object (its content is not checked here)."""


class _Head(msgspec.Struct, gc=False):
    """What every CloudTrail event has, with the types `scan` relies on; nothing else is decoded."""

    eventSource: str
    eventName: str
    eventTime: str
    eventID: str
    userIdentity: _Identity | None = None


class _Envelope(msgspec.Struct, rename={"detail_type": "detail-type"}):
    detail_type: str
    detail: msgspec.Raw


_HEAD = msgspec.json.Decoder(_Head)
_HEADS = msgspec.json.Decoder(list[_Head])
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()
_DOCUMENT = re.compile(rb'\{\s*"Records"\s*:\s*\[')
_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")
_ERROR_BYTE = re.compile(r"\(byte (\d+)\)")

decode = _ANY.decode  # a record's bytes (msgspec.Raw or bytes) as a dict


def _chunks(stream: BinaryIO) -> tuple[Iterator[bytes], bool]:
    """(decompressed chunks, gzipped?): gunzipped with ISA-L if the content is gzip (every member of a
    multi-member gzip, each checked against its CRC and length)."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
    head = buffered.peek(2)[:2]
    if head != b"\x1f\x8b":
        def plain() -> Iterator[bytes]:  # read1: what a pipe has now, never waiting for a full chunk
            while chunk := buffered.read1(CHUNK):
                yield chunk
        return plain(), False

    def gunzip() -> Iterator[bytes]:
        read = out = 0
        inflate = isal_zlib.decompressobj(31)
        pending = b""
        try:
            while True:
                if not pending:
                    pending = buffered.read1(1 << 20)
                    read += len(pending)
                    if not pending:
                        if not inflate.eof:
                            raise RecordError("corrupt or truncated gzip (it ends before its end-of-stream marker)")
                        return
                if inflate.eof:  # the next gzip member
                    if not pending.lstrip(b"\x00"):
                        pending = b""
                        continue
                    inflate = isal_zlib.decompressobj(31)
                chunk = inflate.decompress(pending, CHUNK)
                pending = inflate.unconsumed_tail or inflate.unused_data
                if chunk:
                    out += len(chunk)
                    if out > RATIO_GRACE and out > MAX_RATIO * max(read, 1):
                        raise RecordError(
                            f"decompression bomb: more than {MAX_RATIO} times its compressed size after "
                            f"{out >> 20} MiB (limit: records.MAX_RATIO)"
                        )
                    yield chunk
        except isal_zlib.error as e:
            raise RecordError(f"corrupt or truncated gzip ({e})") from e

    return gunzip(), True


class RecordReader:
    """The records of one stream, in order: `(number, raw bytes, head)` per valid record, `Problem` per
    record or line not read; `batches()` gives them a list at a time (a chunk of the stream: what `scan`
    iterates, one Python call per chunk rather than per record). `format` is known once reading began."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.format: str | None = None
        self.records = 0  # valid records yielded
        self.gzipped = False

    def __iter__(self) -> Iterator[tuple[int, object, _Head] | Problem]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list]:
        try:
            chunks, self.gzipped = _chunks(self.stream)
            first = b""
            for chunk in chunks:
                first = first + chunk if first else chunk
                if _BLANK.match(first).end() < len(first):
                    break
            if first.startswith(BOM):
                first = first[len(BOM):]
            body = first[_BLANK.match(first).end():]
            if not body:
                yield [Problem("", "empty: no CloudTrail events", fatal=True)]
                return
            if body[:1] == b"[":
                self.format = "array"
                yield from self._array(body, chunks, document=False)
            elif _DOCUMENT.match(body):
                self.format = "s3"
                yield from self._array(body[_DOCUMENT.match(body).end() - 1:], chunks, document=True)
            else:
                yield from self._lines(first, chunks)
        except RecordError as e:
            yield [Problem("", e.reason, fatal=True)]

    # ---- delivery documents and arrays ------------------------------------------------------------
    # `buf` always starts with the array's '[' (put back after each cut), so a batch of records is
    # decoded from `buf[:end] + b"]"`, and the last one from `buf` itself: one copy of the data at most.
    def _array(self, buf: bytes, chunks: Iterator[bytes], document: bool):
        """Records of a JSON array, `buf` starting at its '['; `document`: it closes with `]}` too."""
        eof = False
        consumed = 0  # bytes of the array before buf, for messages
        number = 0
        while True:
            while not eof and len(buf) < CHUNK:
                chunk = next(chunks, None)
                if chunk is None:
                    eof = True
                else:
                    buf += chunk
            if eof:
                yield from self._tail(buf, number, consumed, document)
                return
            cut, raws, error, wrapped = self._cut(buf)
            if cut is None:
                if error is not None:  # a syntax error inside this chunk: stop at it
                    yield from self._salvage(buf, number, consumed, error)
                    return
                if len(buf) > MAX_RECORD:
                    yield [Problem(f"record {number + 1}", f"larger than {MAX_RECORD >> 20} MiB (limit: records.MAX_RECORD); the rest of the file is not read", fatal=True)]
                    return
                chunk = next(chunks, None)  # no record ends in buf yet: read on
                if chunk is None:
                    eof = True
                else:
                    buf += chunk
                continue
            yield self._items(raws, number, wrapped)
            number += len(raws)
            consumed += cut - 1
            buf = b"[" + buf[cut:]

    def _cut(self, buf: bytes):
        """(index after the comma that follows the last whole record, the records, None, the records as
        a JSON array), trying cut points from the end; (None, None, error position, None) at a syntax
        error; all None if no record ends in buf."""
        end = len(buf)
        for _ in range(256):
            brace = buf.rfind(b"}", 0, end)
            if brace < 0:
                return None, None, None, None
            after = brace + 1
            while after < len(buf) and buf[after] in b" \t\r\n":
                after += 1
            if after >= len(buf) or buf[after] != 0x2C:  # not followed by ','
                end = brace
                continue
            wrapped = buf[: brace + 1] + b"]"
            try:
                raws = _RAWS.decode(wrapped)
            except msgspec.DecodeError as e:
                at = _error_at(e)
                if at is None or at >= brace + 1:  # the cut was inside a record: try an earlier one
                    end = brace
                    continue
                return None, None, at, None
            return after + 1, raws, None, wrapped
        return None, None, None, None

    def _tail(self, buf: bytes, number: int, consumed: int, document: bool):
        end = len(buf)
        ok = True
        for closer in (b"}", b"]") if document else (b"]",):
            while end and buf[end - 1] in b" \t\r\n":
                end -= 1
            if end and buf[end - 1] == closer[0]:
                end -= 1
            else:
                ok = False
                break
        if ok:
            wrapped = memoryview(buf)[: end + 1]  # up to the array's own ']'
            try:
                raws = _RAWS.decode(wrapped)
            except msgspec.DecodeError as e:
                at = _error_at(e)
                yield from self._salvage(buf, number, consumed, at if at is not None else end)
                return
            yield self._items(raws, number, wrapped)
            return
        yield from self._salvage(buf, number, consumed, len(buf), truncated=True)

    def _salvage(self, buf: bytes, number: int, consumed: int, at: int, truncated: bool = False):
        """The whole records before a syntax error at `at`, then the error (the rest is not read)."""
        end = min(at, len(buf))
        for _ in range(10000):
            brace = buf.rfind(b"}", 0, end)
            if brace < 0:
                break
            wrapped = buf[: brace + 1] + b"]"
            try:
                raws = _RAWS.decode(wrapped)
            except msgspec.DecodeError:
                end = brace
                continue
            yield self._items(raws, number, wrapped)
            number += len(raws)
            break
        what = "truncated (the file ends inside a record)" if truncated or at >= len(buf) else (
            f"invalid JSON at byte {consumed + at} of the records")
        yield [Problem(f"record {number + 1}", f"{what}; the rest of the file is not read", fatal=True)]

    def _items(self, raws: list, number: int, wrapped: bytes) -> list:
        """Each record with its head; the heads of a whole batch are checked in one call, one by one
        only when some record in it is not CloudTrail."""
        try:
            heads = _HEADS.decode(wrapped)
        except msgspec.DecodeError:
            heads = None
        if heads is not None:
            self.records += len(raws)
            return list(zip(range(number + 1, number + 1 + len(raws)), raws, heads))
        out: list = []
        for raw in raws:
            number += 1
            try:
                head = _HEAD.decode(raw)
            except msgspec.DecodeError as e:
                out.append(Problem(f"record {number}", _not_cloudtrail(e)))
                continue
            self.records += 1
            out.append((number, raw, head))
        return out

    # ---- JSON lines -------------------------------------------------------------------------------
    def _lines(self, buf: bytes, chunks: Iterator[bytes]):
        eof = False

        def more() -> bool:
            nonlocal buf, eof
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
                return False
            buf += chunk
            return True

        while b"\n" not in buf.lstrip() and len(buf) <= MAX_DOCUMENT and more():
            pass
        first = buf.lstrip().split(b"\n", 1)[0].strip()
        if first.startswith(b"{") and not _is_json(first):
            # perhaps one document over several lines (pretty-printed): read it whole, up to the limit
            while not eof and len(buf) <= MAX_DOCUMENT and more():
                pass
            if eof:
                try:
                    doc = _ANY.decode(buf)
                except msgspec.DecodeError:
                    doc = None
                if doc is not None:
                    yield list(self._document(doc))
                    return
        lineno, envelopes, events = 0, 0, 0
        while True:
            if not eof and b"\n" not in buf and len(buf) <= MAX_RECORD and more():
                continue  # lines are judged as soon as they are complete (a pipe: as they arrive)
            lines = buf.split(b"\n")
            buf = b"" if eof else lines.pop()
            out: list = []
            for line in lines:
                lineno += 1
                line = line.strip()
                if not line:
                    continue
                raw = line
                try:
                    if b'"detail-type"' in line:
                        raw = _ENVELOPE.decode(line).detail
                        envelopes += 1
                    head = _HEAD.decode(raw)
                except msgspec.DecodeError as e:
                    out.append(Problem(f"line {lineno}", _not_cloudtrail(e)))
                    continue
                events += 1
                self.records += 1
                out.append((lineno, raw, head))
            if out:
                yield out
            if len(buf) > MAX_RECORD:  # one line larger than the limit: skip to its end
                lineno += 1
                yield [Problem(f"line {lineno}", f"larger than {MAX_RECORD >> 20} MiB (limit: records.MAX_RECORD)")]
                while b"\n" not in buf and not eof:
                    buf = b""
                    more()
                buf = buf.split(b"\n", 1)[1] if b"\n" in buf else b""
            if eof and not buf:
                break
        self.format = "eventbridge" if events and envelopes == events else "jsonl"
        if not events and not lineno:
            yield [Problem("", "empty: no CloudTrail events", fatal=True)]

    def _document(self, doc):
        self.format = "document"
        if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            self.format = "s3"
            items = doc["Records"]
        elif isinstance(doc, dict) and "detail-type" in doc and "detail" in doc:
            self.format = "eventbridge"
            items = [doc["detail"]]
        else:
            items = [doc]
        for number, item in enumerate(items, 1):
            raw = msgspec.json.encode(item)
            try:
                head = _HEAD.decode(raw)
            except msgspec.DecodeError as e:
                yield Problem(f"record {number}", _not_cloudtrail(e))
                continue
            self.records += 1
            yield number, raw, head


def _is_json(data: bytes) -> bool:
    try:
        _ANY.decode(data)
    except msgspec.DecodeError:
        return False
    return True


def _error_at(e: Exception) -> int | None:
    """Where msgspec found a syntax error (a byte offset in what it decoded)."""
    m = _ERROR_BYTE.search(str(e))
    return int(m.group(1)) if m else None


def _not_cloudtrail(e: Exception) -> str:
    text = str(e)
    if isinstance(e, msgspec.ValidationError):
        return f"not a CloudTrail event ({text})"
    return f"invalid JSON ({text})"


def read_records(stream: BinaryIO) -> tuple[str, list[dict]]:
    """(format, records) of a whole stream; raises RecordError at the first record not read."""
    reader = RecordReader(stream)
    records = []
    for item in reader:
        if isinstance(item, Problem):
            line = int(item.where.split()[1]) if item.where.startswith("line ") else None
            raise RecordError(str(item) if line is None else item.reason, line)
        records.append(decode(item[1]))
    if not records:
        raise RecordError("no CloudTrail events in the file")
    fmt = reader.format or "jsonl"
    return ("s3-gzip" if fmt == "s3" and reader.gzipped else fmt), records


def parse_records(data: bytes) -> tuple[str, list[dict]]:
    """(format, records) of a file's content; raises RecordError naming the line at fault."""
    fmt, records = read_records(io.BytesIO(data))
    return ("s3" if fmt == "s3-gzip" else fmt), records


def read_file(path: Path | str) -> CloudTrailFile:
    """All records of one file; raises RecordError (naming the file) if any of it is not CloudTrail."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            fmt, records = read_records(f)
    except OSError as e:
        raise RecordError(f"cannot read ({e.strerror or e})", path=path) from e
    except RecordError as e:
        raise RecordError(e.reason, e.line, path) from e
    return CloudTrailFile(path, fmt, records)


def walk(paths: list[Path | str]) -> Iterator[tuple[str, str | None]]:
    """(path, None) for every file to read, (path, reason) for every input that will not be read.

    Files named, and files under folders named (recursively, in name order, hidden files left out);
    "-" is standard input. Symbolic links are followed, each folder and file once: a second way to the
    same folder (a loop, or two links) and a second way to the same file are reported, as are dangling
    links, unreadable folders, empty folders, and anything that is not a regular file (a FIFO is never
    opened: reading one would wait for a writer).
    """
    seen: set[tuple[int, int]] = set()

    def visit(path: str):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            yield path, "dangling symbolic link" if os.path.islink(path) else "no such file or folder"
            return
        except OSError as e:
            yield path, "symbolic link loop" if e.errno == errno.ELOOP else f"cannot read ({e.strerror or e})"
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            what = "folder" if stat.S_ISDIR(st.st_mode) else "file"
            yield path, f"already scanned: a second way to the same {what} (a symbolic link loop or a second link)"
            return
        seen.add(key)
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(path) as it:
                    names = sorted(e.name for e in it)
            except OSError as e:
                yield path, f"cannot read folder ({e.strerror or e})"
                return
            visible = [n for n in names if not n.startswith(".")]
            if not visible:
                yield path, "empty folder" if not names else "folder holds only hidden files"
                return
            for name in visible:
                yield from visit(os.path.join(path, name))
        elif stat.S_ISREG(st.st_mode):
            if not os.access(path, os.R_OK):
                yield path, "cannot read (permission denied)"
            else:
                yield path, None
        else:
            yield path, "not a regular file (a FIFO, socket or device): not read"

    for p in paths:
        p = str(p)
        if p == "-":
            yield p, None
        else:
            yield from visit(p)


def iter_paths(paths: list[Path | str]) -> Iterator[Path]:
    """The files `walk` would read."""
    for path, reason in walk(paths):
        if reason is None:
            yield Path(path)
