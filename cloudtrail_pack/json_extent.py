"""Where one JSON value ends in a stream of bytes, found without decoding it.

msgspec cuts records at C speed, but it is a recursive decoder (a value nested deeper than Python's
recursion limit raises `RecursionError`) and it needs the whole value in memory. `Extent` counts brackets
outside strings, piece by piece, with no recursion and nothing held: `records.py` uses it where msgspec
cannot cut (a record nested too deeply, a record larger than the record limit, the members of a delivery
document around its `Records` array). It checks no syntax beyond strings and brackets: what it delimits is
decoded (or refused) by msgspec afterwards.
"""

from __future__ import annotations

import re

_NEXT = re.compile(rb'["\[\]{}]')  # outside strings, only these change the depth
_IN_STRING = re.compile(rb'(?:[^"\\]++|\\.)*+', re.S)  # a string's body, up to its closing quote or the end
_SCALAR_END = re.compile(rb"[\s,\]}]")  # a number, true, false or null ends at one of these
BLANK = b" \t\r\n"


class Extent:
    """Feed the bytes of one JSON value, from its first byte (blanks before it allowed), piece by piece;
    `feed` returns the index just after the value in the piece where it ends. `depth` is the deepest
    nesting seen."""

    def __init__(self) -> None:
        self.level = 0  # brackets open
        self.depth = 0  # the deepest level seen
        self.started = False
        self.scalar = False  # a number, true, false or null at the top
        self.in_string = False
        self.escaped = False  # the last piece ended on the backslash of an escape, inside a string

    def feed(self, data: bytes, pos: int = 0) -> int | None:
        n = len(data)
        if not self.started:
            while pos < n and data[pos] in BLANK:
                pos += 1
            if pos >= n:
                return None
            self.started = True
            self.scalar = data[pos] not in b'"[{'
        if self.scalar:
            m = _SCALAR_END.search(data, pos)
            return m.start() if m else None
        while pos < n:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                    pos += 1
                    continue
                pos = _IN_STRING.match(data, pos).end()
                if pos >= n:
                    return None
                if data[pos] == 0x5C:  # a backslash as the piece's last byte: its escaped byte comes next
                    self.escaped = True
                    return None
                self.in_string = False  # the closing quote
                pos += 1
                if self.level == 0:
                    return pos
                continue
            m = _NEXT.search(data, pos)
            if m is None:
                return None
            pos = m.end()
            c = data[pos - 1]
            if c == 0x22:  # '"'
                self.in_string = True
            elif c in b"[{":
                self.level += 1
                if self.level > self.depth:
                    self.depth = self.level
            else:
                self.level -= 1
                if self.level <= 0:
                    return pos
        return None


def value_end(data: bytes, pos: int = 0) -> tuple[int | None, int]:
    """(index just after the JSON value starting at `pos` (blanks first allowed), or None if `data` ends
    inside it; the deepest nesting seen)."""
    extent = Extent()
    return extent.feed(data, pos), extent.depth


def skip_blank(data: bytes, pos: int) -> int:
    n = len(data)
    while pos < n and data[pos] in BLANK:
        pos += 1
    return pos


def rskip_blank(data: bytes, end: int) -> int:
    """The index just after the last non-blank byte before `end` (no copy of `data`)."""
    while end and data[end - 1] in BLANK:
        end -= 1
    return end
