"""A file's content a piece at a time, gunzipped when it is gzip (every member of a multi-member gzip, each
checked against its CRC and length, with ISA-L).

Damage does not raise: a gzip that is truncated or corrupt, bytes after the gzip data that are not gzip, a
decompression bomb, a read error each end the pieces and are kept in `Pieces.damage`, so that the reader
still uses every byte that came out before it and then names the damage (records.py).
"""

from __future__ import annotations

import io
from typing import BinaryIO, Iterator

from isal import isal_zlib

GZIP_MAGIC = b"\x1f\x8b"


class Pieces:
    """Iterate for the content's pieces (decompressed); `gzipped`: the content is gzip; `damage`: why the
    pieces ended early, once they have (None: the content was read to its end)."""

    def __init__(self, stream: BinaryIO, chunk: int, max_ratio: int, grace: int):
        """`chunk`: decompressed bytes at most per piece; a gzip whose output passes `grace` bytes and
        `max_ratio` times its input is a decompression bomb (the limits are records.py's)."""
        self.stream = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
        self.chunk, self.max_ratio, self.grace = chunk, max_ratio, grace
        self.damage: str | None = None
        try:
            self.gzipped = self.stream.peek(2)[:2] == GZIP_MAGIC
        except OSError as e:
            self.gzipped = False
            self.damage = f"cannot read ({e.strerror or e})"
        self._pieces = self._gunzip() if self.gzipped else self._plain()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.damage is not None and self._pieces is None:
            raise StopIteration
        try:
            return next(self._pieces)
        except OSError as e:
            self.damage = f"cannot read ({e.strerror or e})"
        except isal_zlib.error as e:
            self.damage = f"corrupt or truncated gzip ({e})"
        self._pieces = None  # type: ignore[assignment]
        raise StopIteration

    def _plain(self) -> Iterator[bytes]:
        if self.damage is not None:
            return
        read1 = self.stream.read1  # what a pipe has now, never waiting for a full chunk
        while piece := read1(self.chunk):
            yield piece

    def _gunzip(self) -> Iterator[bytes]:
        read = out = 0
        offset = 0  # compressed bytes consumed before `pending`
        inflate = isal_zlib.decompressobj(31)
        pending = b""
        full = False  # the last piece filled `chunk`: ISA-L may hold more output
        while True:
            if pending:
                if inflate.eof:  # what follows a member: another member, zero padding, or something else
                    padding = len(pending) - len(pending.lstrip(b"\x00"))
                    offset, pending = offset + padding, pending[padding:]
                    if not pending:
                        continue
                    if len(pending) < 2:
                        more = self.stream.read1(1 << 20)
                        read += len(more)
                        pending += more
                    if pending[:2] != GZIP_MAGIC:
                        self.damage = (f"bytes after the end of the gzip data (from byte {offset} of the file) "
                                       "are not gzip: not read")
                        return
                    inflate = isal_zlib.decompressobj(31)
                before = len(pending)
                piece = inflate.decompress(pending, self.chunk)
                pending = inflate.unconsumed_tail or inflate.unused_data
                offset += before - len(pending)
            else:  # output ISA-L holds back (it can take in all the input and keep what did not fit)
                piece = b""
                if full and not inflate.eof:
                    piece = inflate.decompress(b"", self.chunk)
                    pending = inflate.unconsumed_tail or inflate.unused_data
                if not piece and not pending:
                    pending = self.stream.read1(1 << 20)
                    read += len(pending)
                    if not pending:
                        if not inflate.eof:
                            self.damage = "corrupt or truncated gzip (it ends before its end-of-stream marker)"
                        return
            full = len(piece) >= self.chunk
            if piece:
                out += len(piece)
                if out > self.grace and out > self.max_ratio * max(read, 1):
                    self.damage = (f"decompression bomb: more than {self.max_ratio} times its compressed size after "
                                   f"{out >> 20} MiB (limit: records.MAX_RATIO)")
                    return
                yield piece
