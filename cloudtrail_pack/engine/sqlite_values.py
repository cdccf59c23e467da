"""SQLite's meaning for the values a rule compares, as the reference engine's SQLite gives it: ASCII-only
case folding (NOCASE, LIKE), comparisons between values of no type affinity, text conversion, and LIKE and
GLOB patterns. The matcher (`matcher.py`) compiles the reference's SQL with these; the correlation sweep
(`correlate.py`) keys groups and values with them."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from functools import lru_cache
from typing import Callable


class PatternUnsupported(ValueError):
    """A GLOB pattern with a character class the backend never writes: not mirrored."""


ASCII_LOWER = {c: c + 32 for c in range(65, 91)}  # str.translate table: A-Z -> a-z, nothing else
LIKE_PATTERN_LIMIT = 50000  # SQLITE_MAX_LIKE_PATTERN_LENGTH, in bytes


def fold(s: str) -> str:
    """SQLite's NOCASE / LIKE folding: ASCII letters only ('É' stays 'É')."""
    return s.lower() if s.isascii() else s.translate(ASCII_LOWER)


class _SQLite:
    """A private connection, for the few conversions best left to SQLite itself (per process)."""

    _lock = threading.Lock()
    _db: sqlite3.Connection | None = None
    _pid: int | None = None

    @classmethod
    def scalar(cls, sql: str, *args):
        with cls._lock:
            if cls._db is None or cls._pid != os.getpid():
                cls._db = sqlite3.connect(":memory:", check_same_thread=False)
                cls._pid = os.getpid()
            return cls._db.execute(sql, args).fetchone()[0]


@lru_cache(maxsize=4096)
def _real_text(value: float) -> str:
    """A REAL as SQLite renders it when text is needed ('1.0e+20', '0.0' for -0.0, 'Inf')."""
    return _SQLite.scalar("SELECT CAST(? AS TEXT)", value)


@lru_cache(maxsize=1024)
def number(text: str):
    """A numeric literal as SQLite reads it (integer if it fits 64 bits, else REAL, its own rounding)."""
    return _SQLite.scalar(f"SELECT {text}")


def as_text(v) -> str:
    """SQLite's text conversion of a non-NULL value (as LIKE, GLOB, || and REPLACE apply it)."""
    if v.__class__ is str:
        return v
    if v.__class__ is float:
        return _real_text(v)
    return str(v)


def c_string(s: str) -> str:
    """The string as C code reading it NUL-terminated sees it (LIKE and GLOB do)."""
    i = s.find("\x00")
    return s if i < 0 else s[:i]


def nocase_cmp(a: str, b: str) -> int:
    """SQLite's NOCASE collation: sqlite3StrNICmp over the shorter byte length, then the lengths."""
    if "\x00" not in a and "\x00" not in b:
        fa, fb = fold(a), fold(b)
        return (fa > fb) - (fa < fb)
    ab, bb = a.encode("utf-8"), b.encode("utf-8")
    n, i = min(len(ab), len(bb)), 0

    def low(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    while True:  # while( N-- > 0 && *a!=0 && UpperToLower[*a]==UpperToLower[*b] ){ a++; b++; }
        if n > 0:
            n -= 1
            if ab[i] != 0 and low(ab[i]) == low(bb[i]):
                i += 1
                continue
            r = low(ab[i]) - low(bb[i])
        else:
            r = 0
        break
    if r == 0:
        r = len(ab) - len(bb)
    return (r > 0) - (r < 0)


def compare(a, b, nocase: bool):
    """SQLite's comparison of two values of no affinity: None for NULL, else -1 / 0 / 1."""
    if a is None or b is None:
        return None
    a_text, b_text = a.__class__ is str, b.__class__ is str
    if not a_text and not b_text:
        return (a > b) - (a < b)
    if not a_text:
        return -1  # INTEGER and REAL sort before TEXT
    if not b_text:
        return 1
    if nocase:
        return nocase_cmp(a, b)
    return (a > b) - (a < b)  # BINARY: memcmp of UTF-8, i.e. code point order


CMP_OPS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "!=": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


# --------------------------------------------------------------------------------------------------
# LIKE and GLOB patterns
# --------------------------------------------------------------------------------------------------

_ANY, _ONE = object(), object()


def _like_tokens(pattern: str, escape: str | None):
    """LIKE pattern -> tokens (_ANY, _ONE, literal chars), or None if SQLite's matcher can never match.

    Follows patternCompare(): '%' before the escape character before '_'; an escape character at the
    very end makes every comparison fail.
    """
    tokens, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "%":
            tokens.append(_ANY)
        elif escape is not None and c == escape:
            i += 1
            if i >= n:
                return None
            tokens.append(pattern[i])
        elif c == "_":
            tokens.append(_ONE)
        else:
            tokens.append(c)
        i += 1
    return tokens


def _glob_tokens(pattern: str):
    """GLOB pattern -> tokens. Only the single-member classes the backend writes ([*] [?] [[]) are known."""
    tokens, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            tokens.append(_ANY)
        elif c == "?":
            tokens.append(_ONE)
        elif c == "[":
            if i + 2 < n and pattern[i + 2] == "]" and pattern[i + 1] not in "^]":
                tokens.append(pattern[i + 1])
                i += 2
            else:
                raise PatternUnsupported(f"GLOB character class in {pattern!r}")
        else:
            tokens.append(c)
        i += 1
    return tokens


def _token_matcher(tokens, folded: bool) -> Callable[[str], bool]:
    """A function of the (already folded, NUL-truncated) text: does the whole pattern match it?"""
    if tokens is None:
        return lambda s: False
    # collapse runs of literals
    parts: list = []
    for t in tokens:
        if t is _ANY or t is _ONE:
            parts.append(t)
        else:
            t = fold(t) if folded else t
            if parts and isinstance(parts[-1], str):
                parts[-1] += t
            else:
                parts.append(t)
    if parts and all(p is _ANY for p in parts):
        return lambda s: True
    if not parts:
        return lambda s: s == ""
    if len(parts) == 1 and isinstance(parts[0], str):
        lit = parts[0]
        return lambda s: s == lit
    if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is _ANY:
        lit = parts[0]
        return lambda s: s.startswith(lit)
    if len(parts) == 2 and parts[0] is _ANY and isinstance(parts[1], str):
        lit = parts[1]
        return lambda s: s.endswith(lit)
    if len(parts) == 3 and parts[0] is _ANY and parts[2] is _ANY and isinstance(parts[1], str):
        lit = parts[1]
        return lambda s: lit in s
    regex = "".join(".*" if p is _ANY else "." if p is _ONE else re.escape(p) for p in parts)
    fullmatch = re.compile(regex, re.DOTALL).fullmatch
    return lambda s: fullmatch(s) is not None


@lru_cache(maxsize=4096)
def like_matcher(pattern: str, escape: str | None) -> Callable[[str], bool]:
    return _token_matcher(_like_tokens(c_string(pattern), escape), folded=True)


@lru_cache(maxsize=4096)
def glob_matcher(pattern: str) -> Callable[[str], bool]:
    return _token_matcher(_glob_tokens(c_string(pattern)), folded=False)


def like(value, pattern, escape: str | None = "\\"):
    """SQLite's `value LIKE pattern ESCAPE escape`: True / False / None (NULL)."""
    if value is None or pattern is None:
        return None
    return like_matcher(as_text(pattern), escape)(fold(c_string(as_text(value))))


def glob(value, pattern):
    """SQLite's `value GLOB pattern`: True / False / None (NULL)."""
    if value is None or pattern is None:
        return None
    return glob_matcher(as_text(pattern))(c_string(as_text(value)))

