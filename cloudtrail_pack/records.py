"""Reading CloudTrail records as users have them on disk, one record at a time.

Formats, detected from the content's structure (a mixed folder needs no flags), each optionally gzipped
(several gzip members are read as one stream) and optionally starting with a UTF-8 byte-order mark:

- S3 delivery files: one JSON object with a `Records` array among its members (in any position: AWS
  writes it first, a tool that re-serialises the file may not), compact or pretty-printed;
- a JSON array of events `[event, ...]`;
- JSON lines, one event per line (CloudWatch Logs and CloudTrail Lake exports), or one EventBridge
  "AWS API Call via CloudTrail" envelope per line (the record is the envelope's `detail`);
- any other single JSON document of at most `MAX_DOCUMENT` bytes spread over several lines (one
  pretty-printed event or envelope).

`RecordReader` streams: an S3 document is cut into records without ever being held whole. msgspec
validates each cut (`list[msgspec.Raw]` checks the JSON syntax of every record at C speed and hands
back each record's bytes undecoded), so a record is never split inside a string or a nested object.
Where msgspec cannot cut (a record nested deeper than a recursive decoder can follow, a record larger
than `MAX_RECORD`, members after the `Records` array), `json_extent.Extent` finds each record's end by
counting brackets, and each record is decoded on its own. Every record is checked against the shape
`scan` relies on (`_Head`: the four string fields every CloudTrail event has, `userIdentity` an object
when present) without being decoded; a record that fails is reported with its number (line number for
JSON lines) and the reason, and the next one is read. Only in a delivery document or array does a JSON
syntax error end the file: what follows a syntax error has no reliable structure. Records before it are
still read.

Limits and damage (each reported with the reason, never a crash; the records before it are read): one
record or line larger than `MAX_RECORD` is skipped, the rest of its file read; a gzip that expands more
than `MAX_RATIO` times its compressed size once past `RATIO_GRACE` bytes (a decompression bomb:
CloudTrail's JSON gzips about 10 to 30 to 1, deflate's ceiling is about 1032 to 1), a truncated or corrupt
gzip, bytes after the gzip data that are not gzip, and a read error end the file where they occur
(`decompress.Pieces`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import msgspec

from .decompress import Pieces
from .json_extent import Extent, rskip_blank, skip_blank, value_end
from .literal_search import LiteralSearch
from .records_seams import FIRST, SeamReading

CHUNK = 1 << 22  # decompressed bytes read at a time
MAX_RECORD = 64 << 20  # one record (or line) larger than this is reported and skipped
MAX_DOCUMENT = 64 << 20  # a JSON document that is not a delivery file or array is read whole up to this
MAX_RATIO = 200  # decompressed / compressed bytes above which a gzip is treated as a bomb ...
RATIO_GRACE = 64 << 20  # ... once this many bytes have come out of it
BOM = b"\xef\xbb\xbf"
REST = "the rest of the file is not read"


class RecordError(ValueError):
    """Input that is not readable CloudTrail: the reason, and the line where there is one."""

    def __init__(self, reason: str, line: int | None = None, path: Path | None = None):
        self.reason, self.line, self.path = reason, line, path
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else f"line {line}: " if line else ""
        super().__init__(f"{where}{reason}")


@dataclass(frozen=True)
class CloudTrailFile:
    path: Path
    format: str  # s3, s3-gzip, array, jsonl, eventbridge or document
    records: list[dict]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a file that was not read: `where` is "record N", "line N" or "" (the file itself)."""

    where: str
    reason: str

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
_KEY = msgspec.json.Decoder(str)
_ERROR_BYTE = re.compile(r"\(byte (\d+)\)")
_TOO_DEEP = object()  # _cut's answer when a record is nested too deeply for msgspec

decode = _ANY.decode  # a record's bytes (msgspec.Raw or bytes) as a dict


def too_deep(depth: int | None = None) -> str:
    """Why a record nested deeper than the recursive decoders can follow is not read."""
    levels = f"{depth:,} levels" if depth else "too deeply"
    return (f"nested {levels} deep: more than a JSON decoder can follow "
            f"(Python's recursion limit, {sys.getrecursionlimit():,})")


class RecordReader(SeamReading):
    """The records of one stream, in order: `(number, raw bytes, head)` per valid record, `Problem` per
    record or line not read; `batches()` gives them a list at a time (a chunk of the stream: what `scan`
    iterates, one Python call per chunk rather than per record). `format` is known once reading began."""

    HEAD = _HEAD  # what records_seams.py checks a record cut out with

    def __init__(self, stream: BinaryIO, search: LiteralSearch | None = None):
        self.stream = stream
        self.search = search  # the fast path (`_fast`): only records around a literal's hit are cut out
        self.fast_windows = 0  # windows the fast path read (the rest, if any, read in full)
        self.read_again = False  # the fast path gave up on the file (`Resync`): it was read again in full
        self.format: str | None = None
        self.records = 0  # valid records yielded
        self.gzipped = False
        self.pieces: Pieces | None = None
        self.unit = "record"  # what the numbers count: "line" in JSON lines
        self._damage_told = False

    @property
    def damage(self) -> str | None:
        """Why the content ended early (a truncated gzip, a read error...), once it has."""
        return self.pieces.damage if self.pieces is not None else None

    def _ended(self, default: str) -> str:
        """The reason the content ended inside something: its damage if it has one, else `default`."""
        if self.damage is None:
            return default
        self._damage_told = True
        return f"{self.damage}; {REST}"

    def __iter__(self) -> Iterator[tuple[int, object, _Head] | Problem]:
        for batch in self.batches():
            yield from batch

    def _batches(self) -> Iterator[list]:
        self.chunk = CHUNK  # decompressed bytes a piece holds at most
        self.pieces = chunks = Pieces(self.stream, CHUNK, MAX_RATIO, RATIO_GRACE)
        self.gzipped = chunks.gzipped
        first = b""
        for chunk in chunks:
            first = first + chunk if first else chunk
            if skip_blank(first, 3 if first.startswith(BOM) else 0) < len(first):
                break
        if first.startswith(BOM):
            first = first[len(BOM):]
        body = first[skip_blank(first, 0):]
        if not body:
            yield [Problem("", self.damage or "empty: no CloudTrail events")]
            return
        if body[:1] == b"[":
            self.format = "array"
            yield from self._array(body, chunks, document=False)
        elif body[:1] == b"{":
            yield from self._object(body, chunks)
        else:
            yield from self._lines(first, chunks)
        if self.damage is not None and not self._damage_told:
            yield [Problem("", self.damage)]

    # ---- a top-level object: a delivery document, one document, or the first of JSON lines ----------
    def _object(self, buf: bytes, chunks: Iterator[bytes]):
        """Reads the object's members (keys decoded, values skipped by their extent) until one is
        `"Records": [`: a delivery document, streamed from there. An object without one is a document
        (spread over several lines, nothing after it) or the first line of JSON lines."""
        pos, eof = 1, False

        def more() -> bool:  # past MAX_RECORD the object is left to _lines, which skips an oversized line
            nonlocal buf, eof
            if eof or len(buf) > MAX_RECORD:
                return False
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
                return False
            if buf.__class__ is bytes:  # grown in place from now on: linear whatever the pieces (a pipe's)
                buf = bytearray(buf)
            buf.extend(chunk)
            return True

        def at(i: int) -> int:  # first non-blank index from i, reading on as needed
            i = skip_blank(buf, i)
            while i >= len(buf) and more():
                i = skip_blank(buf, i)
            return i

        def extent(i: int) -> int | None:  # index after the value at i, reading on as needed
            scanner = Extent()
            end = scanner.feed(buf, i)
            while end is None:
                done = len(buf)
                if not more():
                    return None
                end = scanner.feed(buf, done)
            return end

        members = 0
        while True:
            pos = at(pos)
            if pos < len(buf) and buf[pos] == 0x2C and members:  # ','
                pos = at(pos + 1)
            if pos >= len(buf) or buf[pos] != 0x22:  # not a key: the object ends here, or is not one
                break
            end = extent(pos)
            if end is None:
                break
            try:
                key = _KEY.decode(buf[pos:end])
            except msgspec.DecodeError:
                break
            pos = at(end)
            if pos >= len(buf) or buf[pos] != 0x3A:  # ':'
                break
            pos = at(pos + 1)
            if key == "Records" and pos < len(buf) and buf[pos] == 0x5B:  # '['
                self.format = "s3"
                records = bytes(buf[pos:])
                if self.search is not None and records.startswith(FIRST):
                    yield from self._fast(records, chunks)
                else:
                    yield from self._array(records, chunks, document=True)
                return
            end = extent(pos)
            if end is None:
                break
            pos, members = end, members + 1
        several_lines = b"\n" in buf[:pos].strip()
        if pos < len(buf) and buf[pos] == 0x7D:  # '}': an object without a Records array
            # one line: JSON lines, judged now (a pipe's first event is not held back for what follows)
            if several_lines and at(pos + 1) >= len(buf) and eof:
                yield from self._whole(bytes(buf[: pos + 1]))
                return
        elif pos >= len(buf) and eof and several_lines:  # the file ends inside its one document
            yield [Problem("", self._ended("truncated (the file ends inside its JSON document)"))]
            return
        yield from self._lines(bytes(buf), chunks)

    def _whole(self, data: bytes):
        """One JSON document spread over several lines, read whole."""
        self.format = "document"
        try:
            doc = _ANY.decode(data)
        except RecursionError:
            yield [Problem("", too_deep(value_end(data)[1]))]
            return
        except msgspec.DecodeError as e:
            yield [Problem("", f"invalid JSON ({e})")]
            return
        yield list(self._document(doc))

    # ---- delivery documents and arrays ------------------------------------------------------------
    # `buf` always starts with the array's '[' (put back after each cut), so a batch of records is
    # decoded from `buf[:end] + b"]"`, and the last one from `buf` itself: one copy of the data at most.
    def _array(self, buf: bytes, chunks: Iterator[bytes], document: bool, number: int = 0):
        """Records of a JSON array, `buf` starting at its '['; `document`: the array is a member of a
        delivery document, whose other members and closing '}' may follow it; `number`: records before."""
        eof = False
        consumed = 0  # bytes of the array before buf, for messages
        target = CHUNK  # bytes to hold before cutting; doubled while no record ends (linear reading)
        while True:
            if not eof and len(buf) < target:
                buf, eof = _fill(buf, chunks, target)
            if eof:
                yield from self._tail(buf, number, consumed, document)
                return
            cut, raws, error, wrapped = self._cut(buf)
            if cut is _TOO_DEEP:  # a record msgspec cannot follow: this window record by record
                walked = yield from self._walk(buf, number, consumed, document, chunks)
                if walked is None:
                    return
                if len(walked[0]) < len(buf):
                    buf, number, consumed = walked
                    target = CHUNK
                    continue
                cut = None  # no record ends in this window
            if cut is None:
                if error is not None:  # a syntax error inside this chunk: stop at it
                    yield from self._salvage(buf, number, consumed, error)
                    return
                if len(buf) > MAX_RECORD:
                    number += 1
                    buf = yield from self._oversized(buf, chunks, number)
                    if buf is None:
                        return
                    target = CHUNK
                    continue
                target = min(2 * len(buf), MAX_RECORD + 1)  # no record ends in buf yet: read on
                continue
            yield self._items(raws, number, wrapped)
            number += len(raws)
            consumed += cut - 1
            buf = b"[" + buf[cut:]
            target = CHUNK

    def _cut(self, buf: bytes):
        """(index after the comma that follows the last whole record, the records, None, the records as
        a JSON array), trying cut points from the end; (None, None, error position, None) at a syntax
        error; all None if no record ends in buf; `_TOO_DEEP` first if a record is nested too deeply."""
        end = len(buf)
        for _ in range(256):
            brace = buf.rfind(b"}", 0, end)
            if brace < 0:
                return None, None, None, None
            after = skip_blank(buf, brace + 1)
            if after >= len(buf) or buf[after] != 0x2C:  # not followed by ','
                end = brace
                continue
            wrapped = buf[: brace + 1] + b"]"
            try:
                raws = _RAWS.decode(wrapped)
            except RecursionError:
                return _TOO_DEEP, None, None, None
            except msgspec.DecodeError as e:
                at = _error_at(e)
                if at is None or at >= brace + 1 or "trailing characters" in str(e):
                    end = brace  # the cut was inside a record, or after the array: try an earlier one
                    continue
                return None, None, at, None
            return after + 1, raws, None, wrapped
        return None, None, None, None

    def _tail(self, buf: bytes, number: int, consumed: int, document: bool):
        """The rest of the file: the last records, then `]` (and `}` for a document). What else may
        follow them (a document's members after Records), a truncation or a record too deep for msgspec
        is read record by record."""
        end = rskip_blank(buf, len(buf))
        if document:
            end = rskip_blank(buf, end - 1) if end and buf[end - 1] == 0x7D else 0  # '}'
        end -= 1  # the array's ']', if the file ends with it
        ok = end >= 0 and buf[end] == 0x5D
        if ok:
            wrapped = memoryview(buf)[: end + 1]  # up to the array's own ']'
            try:
                raws = _RAWS.decode(wrapped)
            except RecursionError:
                ok = False
            except msgspec.DecodeError as e:
                at = _error_at(e)
                if at is not None and at < end and "trailing characters" not in str(e):  # among the records
                    yield from self._salvage(buf, number, consumed, at)
                    return
                ok = False  # the ']' was not the array's: what follows the records is read below
            else:
                yield self._items(raws, number, wrapped)
                return
        cut, raws, error, wrapped = self._cut(buf)  # the records up to the last ',' at C speed
        if cut is None and error is not None:
            yield from self._salvage(buf, number, consumed, error)
            return
        if cut is not None and cut is not _TOO_DEEP:
            yield self._items(raws, number, wrapped)
            number += len(raws)
            consumed += cut - 1
            buf = b"[" + buf[cut:]
        yield from self._walk(buf, number, consumed, document, None)

    def _walk(self, buf: bytes, number: int, consumed: int, document: bool, chunks: Iterator[bytes] | None):
        """The slow path over `buf` (an array's '[' then records): each whole record found by its extent
        (`json_extent.Extent`) and decoded on its own, so that a record too deep for msgspec is reported
        alone. Returns (the unread rest as a new buffer starting with '[', number, consumed) to read on
        from, or None once the file is done (the array closed and what follows it checked, or a fatal
        problem reported). `chunks` None: buf holds the rest of the file."""
        out: list = []
        i = resume = 1  # b"[" + buf[resume:] is where to read on from
        pending = None  # (start, item): a whole record whose separator is not read yet
        after_comma = False  # a ']' here would be a syntax error
        while True:
            i = skip_blank(buf, i)
            if i >= len(buf):
                break
            c = buf[i]
            if c == 0x5D and not after_comma:  # ']'
                if pending is not None:
                    out.append(pending[1])
                yield self._counted(out)
                yield from self._after_array(buf[i + 1:], chunks, document)
                return None
            if pending is not None:
                if c != 0x2C:  # ','
                    out.append(pending[1])
                    yield self._counted(out)
                    yield [Problem(f"record {number + 1}", f"invalid JSON at byte {consumed + i} of the records; {REST}")]
                    return None
                out.append(pending[1])
                pending, i, after_comma = None, i + 1, True
                resume = i
                continue
            scanner = Extent()
            end = scanner.feed(buf, i)
            if end is None:
                break
            item = self._record(buf[i:end], number + 1, scanner.depth)
            if item is None:
                yield self._counted(out)
                yield [Problem(f"record {number + 1}", f"invalid JSON at byte {consumed + i} of the records; {REST}")]
                return None
            number += 1
            pending, i, after_comma = (i, item), end, False
        if chunks is None:  # the file ends inside the array
            if pending is not None:
                out.append(pending[1])
            yield self._counted(out)
            yield [Problem(f"record {number + 1}", self._ended(f"truncated (the file ends inside a record); {REST}"))]
            return None
        if pending is not None:  # read it again with its separator
            resume, number = pending[0], number - 1
        yield self._counted(out)
        return b"[" + buf[resume:], number, consumed + resume - 1

    def _after_array(self, rest: bytes, chunks: Iterator[bytes] | None, document: bool):
        """What follows the records' `]`: nothing for an array; for a delivery document its other
        members and `}`. Anything else is named (the records were all read)."""
        parts, size = [rest], len(rest)
        for chunk in chunks or ():
            if size > MAX_DOCUMENT:
                yield [Problem("", f"more than {MAX_DOCUMENT >> 20} MiB after the records: not read")]
                return
            parts.append(chunk)
            size += len(chunk)
        rest = b"".join(parts)
        if document:
            lead = skip_blank(rest, 0)
            end = None
            if rest[lead:lead + 1] == b"}":
                end = lead + 1
            elif rest[lead:lead + 1] == b",":  # more members: `{` + them is an object of its own
                close, _ = value_end(b"{" + rest[lead + 1:])
                end = None if close is None else lead + close
            if end is None:
                yield [Problem("", self._ended("invalid JSON after the records: the document does not close"))]
                return
            try:
                if end > lead + 1:
                    _ANY.decode(b"{" + rest[lead + 1:end])
            except RecursionError:
                yield [Problem("", f"the document's members after its records: {too_deep()}")]
                return
            except msgspec.DecodeError:
                yield [Problem("", "invalid JSON in the document's members after its records: not read")]
                return
            rest = rest[end:]
        if rest.strip():
            yield [Problem("", f"data after the end of the JSON {'document' if document else 'array'}: not read")]

    def _oversized(self, buf: bytes, chunks: Iterator[bytes], number: int):
        """Skips record `number`, larger than MAX_RECORD: its end found by its extent, nothing of it kept.
        Returns the buffer to read on from (starting with '['), or None if the file ends inside it."""
        what = f"larger than {MAX_RECORD >> 20} MiB (limit: records.MAX_RECORD)"
        scanner = Extent()
        end = scanner.feed(buf, 1)
        while end is None:
            buf = next(chunks, None)
            if buf is None:
                yield [Problem(f"record {number}", self._ended(f"{what}, and the file ends inside it"))]
                return None
            end = scanner.feed(buf)
        yield [Problem(f"record {number}", what)]
        rest = buf[end:]
        i = skip_blank(rest, 0)
        while i >= len(rest):
            chunk = next(chunks, None)
            if chunk is None:
                yield [Problem(f"record {number + 1}", self._ended(f"truncated (the file ends inside a record); {REST}"))]
                return None
            rest += chunk
            i = skip_blank(rest, i)
        if rest[i] in b",]":
            return b"[" + rest[i + (rest[i] == 0x2C):]
        yield [Problem(f"record {number + 1}", f"invalid JSON after a record larger than {MAX_RECORD >> 20} MiB; {REST}")]
        return None

    def _record(self, raw: bytes, number: int, depth: int):
        """One record delimited by its extent: (number, raw, head), a Problem, or None at a syntax error."""
        try:
            head = _HEAD.decode(raw)
        except RecursionError:
            return Problem(f"record {number}", too_deep(depth))
        except msgspec.ValidationError as e:
            return Problem(f"record {number}", _not_cloudtrail(e))
        except msgspec.DecodeError:
            return None
        return number, raw, head

    def _counted(self, items: list) -> list:
        self.records += sum(1 for i in items if i.__class__ is not Problem)
        return items

    def _salvage(self, buf: bytes, number: int, consumed: int, at: int):
        """The whole records before a syntax error at `at`, then the error (the rest is not read)."""
        end = min(at, len(buf))
        for _ in range(10000):
            brace = buf.rfind(b"}", 0, end)
            if brace < 0:
                break
            wrapped = buf[: brace + 1] + b"]"
            try:
                raws = _RAWS.decode(wrapped)
            except (msgspec.DecodeError, RecursionError):
                end = brace
                continue
            yield self._items(raws, number, wrapped)
            number += len(raws)
            break
        yield [Problem(f"record {number + 1}", f"invalid JSON at byte {consumed + at} of the records; {REST}")]

    def _items(self, raws: list, number: int, wrapped: bytes) -> list:
        """Each record with its head; the heads of a whole batch are checked in one call, one by one
        only when some record in it is not CloudTrail."""
        try:
            heads = _HEADS.decode(wrapped)
        except (msgspec.DecodeError, RecursionError):
            heads = None
        if heads is not None:
            self.records += len(raws)
            return list(zip(range(number + 1, number + 1 + len(raws)), raws, heads))
        out: list = []
        for raw in raws:
            number += 1
            try:
                head = _HEAD.decode(raw)
            except RecursionError:
                out.append(Problem(f"record {number}", too_deep(value_end(raw)[1])))
                continue
            except msgspec.DecodeError as e:
                out.append(Problem(f"record {number}", _not_cloudtrail(e)))
                continue
            self.records += 1
            out.append((number, raw, head))
        return out

    # ---- JSON lines -------------------------------------------------------------------------------
    def _lines(self, buf: bytes, chunks: Iterator[bytes]):
        self.unit = "line"
        eof = False

        lineno, envelopes, events = 0, 0, 0
        while True:
            if not eof and b"\n" not in buf and len(buf) <= MAX_RECORD:
                # lines are judged as soon as they are complete (a pipe: as they arrive)
                parts, size = [buf], len(buf)
                while size <= MAX_RECORD:
                    chunk = next(chunks, None)
                    if chunk is None:
                        eof = True
                        break
                    parts.append(chunk)
                    size += len(chunk)
                    if b"\n" in chunk:
                        break
                buf = b"".join(parts)
            lines = buf.split(b"\n")
            buf = b"" if eof else lines.pop()
            if eof and self.damage is not None:
                lines.pop()  # the line the content broke off in: not judged
            out: list = []
            for line in lines:
                lineno += 1
                line = line.strip()
                if not line:
                    continue
                item = self._line(line, lineno)
                if item.__class__ is tuple:
                    envelopes += item[3]
                    events += 1
                    self.records += 1
                    item = item[:3]
                out.append(item)
            if out:
                yield out
            if eof and self.damage is not None:
                yield [Problem(f"line {lineno + 1}", self._ended(REST))]
            if len(buf) > MAX_RECORD:  # one line larger than the limit: skip to its end
                lineno += 1
                yield [Problem(f"line {lineno}", f"larger than {MAX_RECORD >> 20} MiB (limit: records.MAX_RECORD)")]
                while b"\n" not in buf and not eof:
                    buf = next(chunks, None)
                    eof = buf is None
                    buf = buf or b""
                buf = buf.split(b"\n", 1)[1] if b"\n" in buf else b""
            if eof and not buf:
                break
        self.format = "eventbridge" if events and envelopes == events else "jsonl"
        if not events and not lineno:
            yield [Problem("", "empty: no CloudTrail events")]

    @staticmethod
    def _line(line: bytes, lineno: int):
        """(lineno, raw, head, an envelope?) or a Problem."""
        raw, envelope = line, False
        try:
            if b'"detail-type"' in line:
                raw, envelope = _ENVELOPE.decode(line).detail, True
            return lineno, raw, _HEAD.decode(raw), envelope
        except RecursionError:
            return Problem(f"line {lineno}", too_deep(value_end(line)[1]))
        except msgspec.DecodeError as e:
            return Problem(f"line {lineno}", _not_cloudtrail(e))

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


def _fill(buf: bytes, chunks: Iterator[bytes], target: int) -> tuple[bytes, bool]:
    """(buf and what the chunks add until it holds `target` bytes, whether they ended first)."""
    parts, size = [buf], len(buf)
    while size < target:
        chunk = next(chunks, None)
        if chunk is None:
            return (b"".join(parts) if len(parts) > 1 else buf), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


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
