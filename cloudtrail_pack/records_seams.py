"""records.py's fast path, for AWS's own compact delivery files: records found by their seams, and only
those holding a literal's hit cut out and decoded.

CloudTrail writes each record as `{"eventVersion":...}`, records joined by `,`, no blanks. A `"` is never
raw inside a JSON string, so `},{"eventVersion":` can only be the seam between two objects whose second
starts with that key: between two records. A nested object starting so (AWS writes none) would make the
record cut around a hit invalid JSON, which `Resync` catches: the reader then reads the file again in full;
in a record without a hit it would only be counted as a second record. Each decompressed
piece is searched where it lies (no copy): its records are counted by their seams, and only a record
holding a literal's hit is cut out, checked and handed on. The record that spans two pieces is the only
copy. What is not decoded is not checked either: `scan --check-every-record` reads every record.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

import msgspec

from .json_extent import rskip_blank

SEAM = b'},{"eventVersion":'
FIRST = b'[{"eventVersion":'


class Resync(Exception):
    """The fast path met a record it cannot cut out by its seams: the file is read again in full."""


class SeamReading:
    """The fast path of `records.RecordReader` (its `search`, `records`, `fast_windows`, `chunk`, `HEAD`,
    `_batches`, the whole reading, and `_array`, the full path it hands over to)."""

    def batches(self) -> Iterator[list]:
        """Batches of items. On the fast path, a hit the fast path cannot place (`Resync`) starts the file
        again on the full path, from its first byte, with the records already handed out left out."""
        start = _start_of(self.stream) if self.search is not None else None
        if start is None:
            self.search = None
            yield from self._batches()
            return
        handed = 0  # the highest record number handed out
        try:
            for batch in self._batches():
                for item in batch:
                    if item.__class__ is tuple:
                        handed = item[0]
                yield batch
            return
        except Resync:
            pass
        self.stream.seek(start)
        self.read_again = True
        self.search, self.records, self.format, self._damage_told = None, 0, None, False
        for batch in self._batches():
            yield [i for i in batch if i.__class__ is not tuple or i[0] > handed]  # problems: all

    def _fast(self, piece: bytes, chunks: Iterator[bytes]):
        """The records of a delivery document's array, `piece` starting with `[{"eventVersion":`."""
        number, carry, start = 0, b"", 1  # records before `carry`, the bytes of the record that spans pieces
        while True:
            first = piece.find(SEAM, start)
            if first < 0:  # no record ends in this piece
                carry += piece[start:]
                if len(carry) > self.chunk:  # a record larger than a piece: the full path from its start
                    yield from self._array(b"[" + carry, chunks, document=True, number=number)
                    return
            else:
                last = piece.rfind(SEAM, first)
                spanning = carry + piece[start:first + 1]
                items, count = self._window(spanning, 0, len(spanning), number)
                if last > first:
                    more, n = self._window(piece, first + 2, last + 1, number + count)
                    items += more
                    count += n
                number += count
                self.records += count
                self.fast_windows += 1
                carry = piece[last + 2:]
                yield items
            piece, start = next(chunks, None), 0
            if piece is None:
                break
        end = rskip_blank(carry, len(carry))
        if carry[end - 3:end] != b"}]}":  # members after the records, damage...: the full path's
            yield from self._array(b"[" + carry, iter(()), document=True, number=number)
            return
        items, count = self._window(carry, 0, end - 2, number)
        self.records += count
        yield items

    def _window(self, data: bytes, lo: int, hi: int, number: int) -> tuple[list, int]:
        """((number, raw, head) of each record of data[lo:hi] that holds a hit, the records there): the
        records run from `lo` to `hi`, one seam between each two."""
        items: list = []
        done = lo  # the end of the last record cut out
        seams, counted_to = 0, lo  # seams before the record at hand, counted in data[lo:counted_to]
        for hit in self.search.hits(data, lo, hi):  # the end of each literal found
            if hit <= done:
                continue
            start = data.rfind(SEAM, lo, hit)
            start = lo if start < 0 else start + 2
            end = data.find(SEAM, start, hi)
            end = hi if end < 0 else end + 1
            if hit > end:  # the literal runs into a seam: not a record's own bytes
                raise Resync
            seams += data.count(SEAM, counted_to, start + len(SEAM) - 2)  # up to this record's own seam
            counted_to = max(start - 1, lo)
            raw = data[start:end]
            try:
                head = self.HEAD.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                raise Resync from None
            items.append((number + seams + 1, raw, head))
            done = end
        return items, data.count(SEAM, lo, hi) + 1


def _start_of(stream: BinaryIO) -> int | None:
    """Where a stream that can be read again starts; None for a pipe (the fast path needs a way back), or a
    stream `Pieces` must wrap (its wrapper closes the stream when it goes)."""
    try:
        return stream.tell() if hasattr(stream, "peek") and stream.seekable() else None
    except (OSError, ValueError):
        return None
