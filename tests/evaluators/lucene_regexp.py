"""Lucene RegExp patterns (what Elasticsearch's regexp queries, EQL `regex`/`regex~` and ES|QL `RLIKE` run)
read into Python regular expressions of the same meaning, for the evaluators.

Grammar (Lucene's `org.apache.lucene.util.automaton.RegExp` javadoc; Elasticsearch reference, "Regular
expression syntax"): union `|`, concatenation, repetition `* + ? {n} {n,} {n,m}`, groups `( )` (`()` is
the empty string), classes `[...]` / `[^...]` with ranges `a-z`, `.` for any character, and `\\c` for the
character c. The pattern matches a whole value. The optional operators `" # @ & ~ < >` (a quoted literal,
empty language, any string, intersection, complement, numeric interval: on with the default flags ALL) are
refused here unescaped, as are `\\` before an ASCII letter (`\\d`, `\\w`, `\\s` are Lucene classes whose
meaning differs by version), so a pattern this reader accepts means what it returns.
"""

from __future__ import annotations

import re
from functools import lru_cache

OPERATORS = set('"#@&~<>')
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


class LuceneRegexpError(ValueError):
    """Syntax outside the supported subset, or not a pattern."""


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def take(self) -> str:
        c = self.peek()
        if not c:
            raise LuceneRegexpError(f"unexpected end of {self.text!r}")
        self.i += 1
        return c

    def union(self) -> str:
        parts = [self.concat()]
        while self.peek() == "|":
            self.i += 1
            parts.append(self.concat())
        return "|".join(parts)

    def concat(self) -> str:
        out = []
        while self.peek() and self.peek() not in "|)":
            out.append(self.repeat())
        return "".join(out)

    def repeat(self) -> str:
        atom = "(?:" + self.atom() + ")"
        while self.peek() and self.peek() in "*+?{":
            if self.peek() == "{":
                m = _REPEAT.match(self.text, self.i)
                if not m:
                    raise LuceneRegexpError(f"bad repetition at {self.i} in {self.text!r}")
                self.i = m.end()
                atom = "(?:" + atom + ")" + m.group(0)
            else:
                atom = "(?:" + atom + ")" + self.take()
        return atom

    def char(self) -> str:
        c = self.take()
        if c == "\\":
            c = self.take()
            if c.isascii() and c.isalpha():
                raise LuceneRegexpError(f"\\{c} in {self.text!r}: a Lucene class or undefined")
        elif c in OPERATORS:
            raise LuceneRegexpError(f"unescaped operator {c!r} in {self.text!r}")
        return c

    def atom(self) -> str:
        c = self.peek()
        if c == ".":
            self.i += 1
            return "(?s:.)"
        if c == "(":
            self.i += 1
            inner = self.union()
            if self.take() != ")":
                raise LuceneRegexpError(f"unbalanced group in {self.text!r}")
            return inner
        if c == "[":
            return self.char_class()
        if c in "*+?{}])":
            raise LuceneRegexpError(f"{c!r} at {self.i} in {self.text!r} repeats or closes nothing")
        return re.escape(self.char())

    def char_class(self) -> str:
        self.i += 1
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        members = []
        while self.peek() != "]":
            lo = self.char()
            if self.peek() == "-" and self.text[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self.char()
                if hi < lo:
                    raise LuceneRegexpError(f"bad range {lo!r}-{hi!r} in {self.text!r}")
                members.append(re.escape(lo) + "-" + re.escape(hi))
            else:
                members.append(re.escape(lo))
        self.i += 1
        if not members:
            raise LuceneRegexpError(f"empty class in {self.text!r}")
        return ("[^" if negate else "[") + "".join(members) + "]"


@lru_cache(maxsize=4096)
def to_python(pattern: str) -> str:
    reader = _Reader(pattern)
    out = reader.union()
    if reader.i != len(pattern):
        raise LuceneRegexpError(f"unexpected {pattern[reader.i]!r} at {reader.i} in {pattern!r}")
    return out


def compile(pattern: str, flags: int = 0) -> re.Pattern:  # noqa: A001 - the module's reading of `re.compile`
    """The Python pattern whose `fullmatch` is Lucene's match of `pattern`."""
    return re.compile(to_python(pattern), flags)
