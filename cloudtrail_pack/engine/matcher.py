"""A fast in-process matcher for Sigma rules, meaning exactly what the reference engine means.

The reference engine (`reference.py`) asks SQLite to evaluate the query pySigma's SQLite backend writes
for a rule, over a table of flattened records. That is the definition of a match in this project, and
it is slow: every batch of records becomes a database. This module reaches the same verdicts without
the database, by compiling *the very query the backend writes* into a Python predicate:

1. The rule is converted by the SQLite backend, configured exactly as the reference configures it.
2. The WHERE clause is parsed (a small SQL expression grammar: the subset the backend emits).
3. Each node becomes Python code with SQLite's semantics for that node:
   - a column reads the record as `reference.flatten` would lay it out (dotted paths, parent objects
     as sorted-key JSON text, arrays as JSON text, booleans as 'true'/'false', NaN as NULL);
   - `=` / `<` / ... compare as SQLite compares values in a column with no type affinity: NULL gives
     NULL, numbers sort before text and never equal it, text compares under the column's NOCASE
     collation (ASCII-only case folding) unless an explicit COLLATE says otherwise;
   - LIKE is ASCII-only case-insensitive and GLOB case-sensitive, both reading text only up to a NUL,
     both converting numbers to text as SQLite does;
   - REGEXP is the reference's own function: `re.search(pattern, str(value))`, false for NULL;
   - AND / OR / NOT follow SQL three-valued logic (each subtree is compiled twice, as "is TRUE" and
     "is FALSE", so that NULL is neither), COALESCE(x, 0) folds NULL to false.

Whatever the parser or the compiler does not know -- keywords (the backend refuses them too), IN lists,
CAST/strftime (the |minute... modifiers), other functions, collations or operators -- raises
`MatcherUnsupported` when the rule is compiled, and the caller keeps the reference for that rule.
Nothing is ever approximated.

Why this and not a second compiler from pySigma's rule tree (the decision issue 12 asked for, measured
with `bench/matcher_bench.py` on this 2-core machine while other jobs ran): the pack's 14 detection
rules compile in 341 ms and evaluate at 518,000 record-rule evaluations/s (23x the reference, verdicts
identical); SigmaHQ's 58 AWS rules: 57 compile in 716 ms, 330,000 evaluations/s (3.6x; the one refused,
an unresolved placeholder, the reference cannot run either). In `scan` the matcher sees only records
whose event name some rule requires (`prefilter.py`): 102 of 100,000 records of the benchmark's
realistic corpus, so evaluation is well under 1% of a scan, whose time goes to gunzip and JSON. A
compiler walking `SigmaDetection` trees (or a backend emitting Python) would therefore win no measurable
time, and it would restate what the SQL already fixes -- NOCASE's ASCII-only folding, LIKE and GLOB
escapes, NULL in three-valued logic, pipeline transformations, filters -- as a second definition of a
match to keep in agreement. Compiling the reference's own query keeps one definition; the module stays
one file in three parts (value semantics, parsing, code generation), marked below.

Where the reference itself cannot run (a record whose keys differ from a rule's field only in case
makes CREATE TABLE fail; an integer beyond 64 bits cannot be inserted; a lone surrogate cannot be
encoded) the matcher still answers, reading columns by their exact name; there is no reference verdict
to agree with.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from functools import lru_cache
from typing import Callable

from sigma.correlations import SigmaCorrelationRule
from sigma.pipelines.cloudtrail import pysigma_compat
from sigma.rule import SigmaRule

from .sqlite import TABLE, backend, quote

__all__ = ["MatcherUnsupported", "compile_rule", "compile_sql", "rule_sql"]


class MatcherUnsupported(Exception):
    """The rule uses something the matcher cannot mirror exactly; evaluate it with the reference."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# SQLite value semantics
# --------------------------------------------------------------------------------------------------

_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}  # str.translate table: A-Z -> a-z, nothing else
_LIKE_PATTERN_LIMIT = 50000  # SQLITE_MAX_LIKE_PATTERN_LENGTH, in bytes


def _fold(s: str) -> str:
    """SQLite's NOCASE / LIKE folding: ASCII letters only ('É' stays 'É')."""
    return s.lower() if s.isascii() else s.translate(_ASCII_LOWER)


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


def _text(v) -> str:
    """SQLite's text conversion of a non-NULL value (as LIKE, GLOB, || and REPLACE apply it)."""
    if v.__class__ is str:
        return v
    if v.__class__ is float:
        return _real_text(v)
    return str(v)


def _cstr(s: str) -> str:
    """The string as C code reading it NUL-terminated sees it (LIKE and GLOB do)."""
    i = s.find("\x00")
    return s if i < 0 else s[:i]


def _leaf_value(v):
    """A non-string JSON value as `reference.flatten` + sqlite3 store it."""
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, list):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v.__class__ is float and v != v:  # SQLite stores NaN as NULL
        return None
    return v


def _nocase_cmp(a: str, b: str) -> int:
    """SQLite's NOCASE collation: sqlite3StrNICmp over the shorter byte length, then the lengths."""
    if "\x00" not in a and "\x00" not in b:
        fa, fb = _fold(a), _fold(b)
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


def _compare(a, b, nocase: bool):
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
        return _nocase_cmp(a, b)
    return (a > b) - (a < b)  # BINARY: memcmp of UTF-8, i.e. code point order


_CMP_OPS: dict[str, Callable[[int], bool]] = {
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
                raise MatcherUnsupported(f"GLOB character class in {pattern!r}")
        else:
            tokens.append(c)
        i += 1
    return tokens


def _token_matcher(tokens, fold: bool) -> Callable[[str], bool]:
    """A function of the (already folded, NUL-truncated) text: does the whole pattern match it?"""
    if tokens is None:
        return lambda s: False
    # collapse runs of literals
    parts: list = []
    for t in tokens:
        if t is _ANY or t is _ONE:
            parts.append(t)
        else:
            t = _fold(t) if fold else t
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
def _like_matcher(pattern: str, escape: str | None) -> Callable[[str], bool]:
    return _token_matcher(_like_tokens(_cstr(pattern), escape), fold=True)


@lru_cache(maxsize=4096)
def _glob_matcher(pattern: str) -> Callable[[str], bool]:
    return _token_matcher(_glob_tokens(_cstr(pattern)), fold=False)


def like(value, pattern, escape: str | None = "\\"):
    """SQLite's `value LIKE pattern ESCAPE escape`: True / False / None (NULL)."""
    if value is None or pattern is None:
        return None
    return _like_matcher(_text(pattern), escape)(_fold(_cstr(_text(value))))


def glob(value, pattern):
    """SQLite's `value GLOB pattern`: True / False / None (NULL)."""
    if value is None or pattern is None:
        return None
    return _glob_matcher(_text(pattern))(_cstr(_text(value)))


# --------------------------------------------------------------------------------------------------
# Field access: flatten() for one column
# --------------------------------------------------------------------------------------------------

_MISSING = object()


def _make_getter(name: str) -> Callable[[dict], object]:
    """The value `reference.flatten(record)[name]` would hold (None for NULL or absent).

    flatten() writes `prefix + key` for every key in order, recursing into objects, so a column can
    come from several places when keys contain dots ({"a.b": 1} and {"a": {"b": 2}} both write "a.b");
    the last write wins. The fast path walks the path after checking that no dotted key could
    compete; otherwise the exact search runs.
    """
    parts = name.split(".")
    n = len(parts)
    # candidates[i]: (j, key) for every key at depth i whose flattened name is a prefix of `name`
    candidates = [[(j, ".".join(parts[i:j])) for j in range(i + 1, n + 1)] for i in range(n)]
    dotted = [tuple(k for j, k in candidates[i] if j > i + 1) for i in range(n)]

    def exact(obj: dict, i: int):
        best = _MISSING
        present = [(j, k) for j, k in candidates[i] if k in obj]
        if len(present) > 1:
            order = {k: pos for pos, k in enumerate(obj)}
            present.sort(key=lambda jk: order[jk[1]])
        for j, k in present:
            v = obj[k]
            if j == n:
                best = v if v.__class__ is str or v is None else _leaf_value(v)
            elif isinstance(v, dict):
                found = exact(v, j)
                if found is not _MISSING:
                    best = found
        return best

    def slow(record: dict):
        v = exact(record, 0)
        return None if v is _MISSING else v

    if n == 1:

        def get(record: dict):
            v = record.get(name)
            if v is None or v.__class__ is str:
                return v
            return _leaf_value(v)

        return get

    head, last = parts[:-1], parts[-1]
    walk = list(zip(head, dotted[:-1]))

    def get(record: dict):
        obj = record
        for key, competitors in walk:
            for k in competitors:
                if k in obj:
                    return slow(record)
            obj = obj.get(key)
            if obj.__class__ is not dict:
                if isinstance(obj, dict):  # a dict subclass: let the exact search handle it
                    return slow(record)
                return None
        v = obj.get(last)
        if v is None or v.__class__ is str:
            return v
        return _leaf_value(v)

    return get


# --------------------------------------------------------------------------------------------------
# Parsing the WHERE clause
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<qid>`(?:[^`]|``)*`)
      | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<op>\|\||<=|>=|<>|!=|==|[=<>(),+-])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "LIKE", "GLOB", "REGEXP", "ESCAPE", "COLLATE", "IN",
             "CAST", "AS", "MATCH", "BETWEEN", "ISNULL", "NOTNULL", "CASE", "EXISTS", "SELECT"}


def _tokenize(sql: str) -> list[tuple[str, object]]:
    tokens, pos = [], 0
    while True:
        while pos < len(sql) and sql[pos] in " \t\r\n":
            pos += 1
        if pos == len(sql):
            break
        m = _TOKEN.match(sql, pos)
        if not m or m.end() == pos:
            raise MatcherUnsupported(f"unexpected SQL at {sql[pos:pos + 30]!r}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            tokens.append(("str", text[1:-1].replace("''", "'")))
        elif kind == "qid":
            tokens.append(("id", text[1:-1].replace("``", "`")))
        elif kind == "num":
            tokens.append(("num", text))
        elif kind == "word":
            up = text.upper()
            tokens.append(("kw", up) if up in _KEYWORDS else ("id", text))
        else:
            tokens.append(("op", "!=" if text == "<>" else "=" if text == "==" else text))
    tokens.append(("end", None))
    return tokens


@lru_cache(maxsize=1024)
def _number(text: str):
    """A numeric literal as SQLite reads it (integer if it fits 64 bits, else REAL, its own rounding)."""
    return _SQLite.scalar(f"SELECT {text}")


class _Parser:
    """Pratt parser for SQLite expressions, restricted to the operators the backend writes.

    Binding powers follow SQLite's precedence: OR < AND < NOT < (= != IS LIKE GLOB REGEXP)
    < (< <= > >=) < ESCAPE < || < COLLATE.
    """

    def __init__(self, sql: str):
        self.tokens = _tokenize(sql)
        self.i = 0

    def peek(self, k: int = 0):
        return self.tokens[self.i + k]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, kind, value=None):
        tok = self.take()
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise MatcherUnsupported(f"expected {value or kind}, found {tok[1]!r}")
        return tok

    def parse(self):
        node = self.expr(0)
        if self.peek()[0] != "end":
            raise MatcherUnsupported(f"trailing SQL: {self.peek()[1]!r}")
        return node

    def prefix(self):
        kind, value = self.take()
        if kind == "kw" and value == "NOT":
            return ("not", self.expr(3))
        if kind == "kw" and value == "NULL":
            return ("lit", None)
        if kind == "op" and value in "+-":
            sign = value
            nkind, nvalue = self.take()
            if nkind != "num":
                raise MatcherUnsupported("unary sign before a non-literal")
            return ("lit", _number(sign + nvalue))
        if kind == "op" and value == "(":
            node = self.expr(0)
            self.expect("op", ")")
            return node
        if kind == "str":
            return ("lit", value)
        if kind == "num":
            return ("lit", _number(value))
        if kind == "id":
            if self.peek() == ("op", "("):
                self.take()
                args = [self.expr(0)]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.expr(0))
                self.expect("op", ")")
                return ("func", value.upper(), args)
            return ("col", value)
        raise MatcherUnsupported(f"unsupported SQL token {value!r}")

    def expr(self, min_bp: int):
        left = self.prefix()
        while True:
            kind, value = self.peek()
            if kind == "kw" and value == "OR" and min_bp < 1:
                self.take()
                left = ("or", [left, self.expr(1)])
            elif kind == "kw" and value == "AND" and min_bp < 2:
                self.take()
                left = ("and", [left, self.expr(2)])
            elif kind == "kw" and value == "IS" and min_bp < 4:
                self.take()
                negated = self.peek() == ("kw", "NOT")
                if negated:
                    self.take()
                self.expect("kw", "NULL")
                left = ("notnull" if negated else "isnull", left)
            elif kind == "kw" and value == "NOT" and min_bp < 4 and self.peek(1) in (
                ("kw", "LIKE"), ("kw", "GLOB"), ("kw", "REGEXP")):
                self.take()
                left = ("not", self.infix_match(left))
            elif kind == "kw" and value in ("LIKE", "GLOB", "REGEXP") and min_bp < 4:
                left = self.infix_match(left)
            elif kind == "op" and value in ("=", "!=") and min_bp < 4:
                self.take()
                left = ("cmp", value, left, self.expr(4))
            elif kind == "op" and value in ("<", "<=", ">", ">=") and min_bp < 5:
                self.take()
                left = ("cmp", value, left, self.expr(5))
            elif kind == "op" and value == "||" and min_bp < 7:
                self.take()
                left = ("concat", left, self.expr(7))
            elif kind == "kw" and value == "COLLATE":
                self.take()
                _, name = self.expect("id")
                left = ("collate", left, name.upper())
            else:
                return left

    def infix_match(self, left):
        _, op = self.take()
        right = self.expr(4)
        if op == "LIKE":
            escape = None
            if self.peek() == ("kw", "ESCAPE"):
                self.take()
                escape = self.expr(7)
            return ("like", left, right, escape)
        if self.peek() == ("kw", "ESCAPE"):
            raise MatcherUnsupported(f"ESCAPE after {op}")
        return (op.lower(), left, right)


# --------------------------------------------------------------------------------------------------
# Compiling the parsed clause
# --------------------------------------------------------------------------------------------------


class _Value:
    """A compiled operand: fn(record) -> value, or a constant; its collation as SQLite assigns it."""

    def __init__(self, fn=None, const=_MISSING, explicit=None, column=None):
        self.fn = fn
        self.const = const
        self.explicit = explicit  # collation named by a COLLATE operator
        self.column = column  # column name if the operand is a bare column reference

    @property
    def is_const(self) -> bool:
        return self.const is not _MISSING

    def func(self):
        if self.is_const:
            c = self.const
            return lambda r: c
        return self.fn


_COLLATIONS = {"NOCASE": True, "BINARY": False}


class _Compiler:
    def __init__(self):
        self.getters: dict[str, Callable] = {}
        self.leaves: list[Callable] = []

    # ---- operands ------------------------------------------------------------------------------
    def getter(self, name: str):
        if name not in self.getters:
            self.getters[name] = _make_getter(name)
        return self.getters[name]

    def value(self, node) -> _Value:
        kind = node[0]
        if kind == "col":
            return _Value(fn=self.getter(node[1]), column=node[1])
        if kind == "lit":
            return _Value(const=node[1])
        if kind == "collate":
            inner = self.value(node[1])
            if node[2] not in _COLLATIONS:
                raise MatcherUnsupported(f"collation {node[2]}")
            return _Value(fn=inner.fn, const=inner.const, explicit=node[2], column=inner.column)
        if kind == "concat":
            a, b = self.value(node[1]), self.value(node[2])
            if a.explicit or b.explicit:
                raise MatcherUnsupported("COLLATE inside ||")
            fa, fb = a.func(), b.func()

            def concat(r):
                x = fa(r)
                if x is None:
                    return None
                y = fb(r)
                return None if y is None else _text(x) + _text(y)

            return _Value(fn=concat)
        if kind == "func" and node[1] == "REPLACE" and len(node[2]) == 3:
            x, y, z = (self.value(a) for a in node[2])
            if x.explicit or y.explicit or z.explicit:
                raise MatcherUnsupported("COLLATE inside REPLACE")
            if not (y.is_const and isinstance(y.const, str) and y.const and "\x00" not in y.const):
                raise MatcherUnsupported("REPLACE of something other than a non-empty string literal")
            fx, fz, old = x.func(), z.func(), y.const

            def replace(r):  # replaceFunc: NULL in, NULL out; left-to-right, non-overlapping
                vx = fx(r)
                if vx is None:
                    return None
                vz = fz(r)
                return None if vz is None else _text(vx).replace(old, _text(vz))

            return _Value(fn=replace)
        raise MatcherUnsupported(f"unsupported operand {_describe(node)}")

    # ---- leaves: three-valued functions ---------------------------------------------------------
    def leaf3(self, node) -> Callable[[dict], object]:
        """A function returning True / False / None (NULL) for a predicate node."""
        kind = node[0]
        if kind in ("isnull", "notnull"):
            operand = self.value(node[1]).func()
            if kind == "isnull":
                return lambda r: operand(r) is None
            return lambda r: operand(r) is not None
        if kind == "cmp":
            _, op, ln, rn = node
            left, right = self.value(ln), self.value(rn)
            nocase = self.collation(left, right)
            test = _CMP_OPS[op]
            fl, fr = left.func(), right.func()

            def cmp(r):
                c = _compare(fl(r), fr(r), nocase)
                return None if c is None else test(c)

            return cmp
        if kind == "like":
            _, vn, pn, en = node
            if en is None:
                escape = None
            else:
                esc = self.value(en)
                if not (esc.is_const and isinstance(esc.const, str) and len(esc.const) == 1
                        and esc.const not in "%_"):
                    raise MatcherUnsupported("LIKE escape that is not one ordinary character")
                escape = esc.const
            value, pattern = self.value(vn).func(), self.value(pn)
            if pattern.is_const:
                p = pattern.const
                if p is None:
                    return lambda r: None
                self.check_pattern(_text(p))
                match = _like_matcher(_text(p), escape)

                def like_const(r):
                    v = value(r)
                    if v is None:
                        return None
                    return match(_fold(_cstr(_text(v))))

                return like_const
            pfn = pattern.func()
            return lambda r: like(value(r), pfn(r), escape)
        if kind == "glob":
            value, pattern = self.value(node[1]).func(), self.value(node[2])
            if pattern.is_const:
                p = pattern.const
                if p is None:
                    return lambda r: None
                self.check_pattern(_text(p))
                match = _glob_matcher(_text(p))

                def glob_const(r):
                    v = value(r)
                    if v is None:
                        return None
                    return match(_cstr(_text(v)))

                return glob_const
            # a pattern read from the event could hold any character class; the backend never writes one
            raise MatcherUnsupported("GLOB with a pattern that is not a literal")
        if kind == "regexp":
            value, pattern = self.value(node[1]).func(), self.value(node[2])
            if not (pattern.is_const and isinstance(pattern.const, str)):
                raise MatcherUnsupported("REGEXP with a pattern that is not a string literal")
            try:
                search = re.compile(pattern.const).search
            except re.error as e:
                raise MatcherUnsupported(f"invalid regular expression {pattern.const!r}: {e}") from e

            # the reference's REGEXP: value is not None and re.search(pattern, str(value)); never NULL
            def regexp(r):
                v = value(r)
                return v is not None and search(v if v.__class__ is str else str(v)) is not None

            return regexp
        raise MatcherUnsupported(f"unsupported condition {_describe(node)}")

    @staticmethod
    def check_pattern(p: str) -> None:
        if len(p.encode("utf-8", "surrogatepass")) > _LIKE_PATTERN_LIMIT:
            raise MatcherUnsupported("LIKE/GLOB pattern longer than SQLite accepts")

    @staticmethod
    def collation(left: _Value, right: _Value) -> bool:
        """SQLite: explicit COLLATE (left first), else a column's own (every column is NOCASE), else BINARY."""
        for side in (left, right):
            if side.explicit:
                return _COLLATIONS[side.explicit]
        if left.column is not None or right.column is not None:
            return True
        return False

    # ---- fast leaves: (true_fn, false_fn), each returning a plain bool ---------------------------
    def fast_eq(self, node):
        """`column = 'text'` under NOCASE: the commonest condition. Returns (column, folded text) or None."""
        if node[0] != "cmp" or node[1] != "=":
            return None
        left, right = self.value(node[2]), self.value(node[3])
        if left.column is None or not right.is_const or not isinstance(right.const, str):
            return None
        if not self.collation(left, right) or "\x00" in right.const:
            return None
        return left.column, _fold(right.const)

    def eq_set(self, column: str, texts: set[str]):
        """OR of `column = 'text'` (NOCASE): true if the folded value is one of them, NULL if NULL."""
        get = self.getter(column)
        if len(texts) == 1 and "." not in column and next(iter(texts)).isascii():
            # the commonest condition of all (eventName = 'X' on a top-level field), inlined
            (text,) = texts
            size = len(text)

            def t(r):
                v = r.get(column)
                if v.__class__ is not str:
                    if v is None:
                        return False
                    v = _leaf_value(v)
                    if v.__class__ is not str:
                        return False
                return len(v) == size and v.isascii() and v.lower() == text
        elif len(texts) == 1:
            (text,) = texts
            if text.isascii():
                size = len(text)

                def t(r):
                    v = get(r)
                    return v.__class__ is str and len(v) == size and v.isascii() and v.lower() == text
            else:

                def t(r):
                    v = get(r)
                    return v.__class__ is str and v.translate(_ASCII_LOWER) == text
        else:
            frozen = frozenset(texts)

            def t(r):
                v = get(r)
                return v.__class__ is str and _fold(v) in frozen

        def f(r):
            v = get(r)
            return v is not None and not (v.__class__ is str and _fold(v) in texts)

        return t, f

    # ---- boolean structure, generated as Python source ------------------------------------------
    def leaf_names(self, t, f) -> tuple[str, str]:
        self.leaves.append(t)
        self.leaves.append(f)
        return f"L{len(self.leaves) - 2}(r)", f"L{len(self.leaves) - 1}(r)"

    def leaf(self, node) -> tuple[str, str]:
        eq = self.fast_eq(node)
        if eq is not None:
            return self.leaf_names(*self.eq_set(eq[0], {eq[1]}))
        fn = self.leaf3(node)
        return self.leaf_names(lambda r: fn(r) is True, lambda r: fn(r) is False)

    def flat(self, node, kind):
        if node[0] != kind:
            return [node]
        return [x for arg in node[1] for x in self.flat(arg, kind)]

    def boolean(self, node) -> tuple[str, str]:
        """Python expressions for `node IS TRUE` and `node IS FALSE`."""
        kind = node[0]
        if kind in ("and", "or"):
            args = self.flat(node, kind)
            parts = []
            if kind == "or":  # merge `col = 'a' OR col = 'b' ...` into one set lookup per column
                sets: dict[str, set[str]] = {}
                rest = []
                for arg in args:
                    eq = self.fast_eq(arg)
                    if eq is not None:
                        if eq[0] not in sets:
                            rest.append(("set", eq[0]))
                            sets[eq[0]] = set()
                        sets[eq[0]].add(eq[1])
                    else:
                        rest.append(arg)
                for arg in rest:
                    if arg[0] == "set":
                        parts.append(self.leaf_names(*self.eq_set(arg[1], sets[arg[1]])))
                    else:
                        parts.append(self.boolean(arg))
            else:
                parts = [self.boolean(arg) for arg in args]
            if len(parts) == 1:
                return parts[0]
            trues, falses = [p[0] for p in parts], [p[1] for p in parts]
            if kind == "and":
                return "(" + " and ".join(trues) + ")", "(" + " or ".join(falses) + ")"
            return "(" + " or ".join(trues) + ")", "(" + " and ".join(falses) + ")"
        if kind == "not":
            t, f = self.boolean(node[1])
            return f, t
        if kind == "func" and node[1] == "COALESCE":
            args = node[2]
            if len(args) == 2 and args[1] == ("lit", 0) and _is_boolean(args[0]):
                t, _ = self.boolean(args[0])
                return t, f"(not {t})"  # COALESCE(x, 0): NULL reads as false
            raise MatcherUnsupported("COALESCE other than COALESCE(condition, 0)")
        if kind in ("cmp", "like", "glob", "regexp", "isnull", "notnull"):
            return self.leaf(node)
        raise MatcherUnsupported(f"unsupported condition {_describe(node)}")

    def build(self, node) -> Callable[[dict], bool]:
        true_expr, _ = self.boolean(node)
        names = [f"L{i}" for i in range(len(self.leaves))]
        source = (
            f"def _factory({', '.join(names)}):\n"
            f"    def match(r):\n"
            f"        return {true_expr}\n"
            f"    return match\n"
        )
        namespace: dict = {}
        exec(compile(source, "<sigma-matcher>", "exec"), namespace)
        match = namespace["_factory"](*self.leaves)
        match.__matcher_source__ = source
        return match


def _is_boolean(node) -> bool:
    return node[0] in ("and", "or", "not", "cmp", "like", "glob", "regexp", "isnull", "notnull") or (
        node[0] == "func" and node[1] == "COALESCE"
    )


def _describe(node) -> str:
    if node[0] == "func":
        return f"function {node[1]}()"
    return node[0]


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

_PREFIX = f"SELECT * FROM {TABLE} WHERE "


def rule_sql(rule: SigmaRule) -> str:
    """The query the reference engine runs for this rule (raises MatcherUnsupported if it runs none)."""
    if isinstance(rule, SigmaCorrelationRule) or not isinstance(rule, SigmaRule):
        raise MatcherUnsupported("correlation rules are evaluated by the reference engine")
    rule = pysigma_compat.detached_copy(rule)
    try:
        queries = backend().convert_rule(rule)
    except Exception as e:  # SigmaError and friends: the reference cannot evaluate the rule either
        raise MatcherUnsupported(f"the SQLite backend cannot convert the rule: {e}") from e
    if len(queries) != 1 or not isinstance(queries[0], str):
        raise MatcherUnsupported(f"the SQLite backend wrote {len(queries)} queries, the reference runs one")
    return queries[0]


def compile_rule(rule: SigmaRule) -> Callable[[dict], bool]:
    """A predicate `record -> bool`, true exactly when the reference engine would match the record."""
    return compile_sql(rule_sql(rule))


def compile_sql(sql: str) -> Callable[[dict], bool]:
    """The predicate of a query the reference engine runs (`ReferenceEngine.queries`): no second
    conversion of the rule."""
    if not sql.startswith(_PREFIX):
        raise MatcherUnsupported(f"unexpected query shape: {sql[:60]!r}")
    where = sql[len(_PREFIX):]
    if "\x00" in where:
        raise MatcherUnsupported("the query contains a NUL character, which sqlite3 refuses")
    try:
        tree = _Parser(where).parse()
        if not _is_boolean(tree):
            raise MatcherUnsupported("WHERE clause is a bare value")
        compiler = _Compiler()
        match = compiler.build(tree)
    except (RecursionError, SyntaxError, MemoryError) as e:
        raise MatcherUnsupported(f"the condition is too deeply nested to compile ({type(e).__name__})") from e
    _check_sqlite_runs(sql, compiler.getters)
    return match


def _check_sqlite_runs(sql: str, columns) -> None:
    """Refuse a query SQLite itself would refuse (a limit, a name clash), as the reference would fail on it."""
    db = sqlite3.connect(":memory:")
    try:
        db.create_function("REGEXP", 2, lambda pattern, value: False, deterministic=True)
        names = sorted(set(columns) | {"eventID", "eventTime"})
        db.execute(f"CREATE TABLE {TABLE} ({', '.join(quote(c) + ' COLLATE NOCASE' for c in names)})")
        db.execute(sql).fetchall()
    except sqlite3.Error as e:
        raise MatcherUnsupported(f"SQLite cannot run the query: {e}") from e
    finally:
        db.close()

