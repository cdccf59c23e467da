"""The reference engine's query, parsed once: the WHERE clause of `SELECT * FROM cloudtrail WHERE ...` as
a tree of typed nodes, which both the matcher (`matcher.py`: Python predicates) and the Spark engine
(`spark_sql.py`: Spark SQL) compile, each with SQLite's meaning.

The grammar is the subset of SQLite's expressions pySigma's SQLite backend writes: columns quoted with
backticks, string literals with '' for a quote, numbers, NULL, AND / OR / NOT, `=` `!=` `<>` `<` `<=` `>`
`>=`, IS [NOT] NULL, [NOT] LIKE ... [ESCAPE ...], [NOT] GLOB, [NOT] REGEXP, COLLATE, `||`, and function
calls (COALESCE, REPLACE, ...). The parser is a Pratt parser whose binding powers are SQLite's precedence
(https://www.sqlite.org/lang_expr.html#operators, parse.y): OR < AND < NOT < (= != IS LIKE GLOB REGEXP) <
(< <= > >=) < || < COLLATE; a LIKE's pattern and its ESCAPE operand each take the operators tighter than
LIKE. Anything else (CAST, IN, BETWEEN, CASE, a keyword as a name...) raises
`Unsupported` with the token at fault; each consumer then refuses the rule with that reason, never
reading it with another meaning. Nodes are immutable, so one tree (cached per query) serves every
consumer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from .sqlite import TABLE

PREFIX = f"SELECT * FROM {TABLE} WHERE "


class Unsupported(ValueError):
    """The query is not one this grammar reads (the reason names what)."""


# --------------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the dotted field path, as the reference's table names its column


@dataclass(frozen=True, slots=True)
class String:
    value: str


@dataclass(frozen=True, slots=True)
class Number:
    text: str  # as written (a sign included): SQLite decides what number it is


@dataclass(frozen=True, slots=True)
class Null:
    pass


@dataclass(frozen=True, slots=True)
class Collate:
    operand: "Node"
    name: str  # upper-cased


@dataclass(frozen=True, slots=True)
class Concat:
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # upper-cased
    args: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # = != < <= > >=
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Like:
    value: "Node"
    pattern: "Node"
    escape: "Node | None"


@dataclass(frozen=True, slots=True)
class Glob:
    value: "Node"
    pattern: "Node"


@dataclass(frozen=True, slots=True)
class Regexp:
    value: "Node"
    pattern: "Node"


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: "Node"
    negated: bool  # IS NOT NULL


@dataclass(frozen=True, slots=True)
class And:
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Or:
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Node"


Node = Union[Column, String, Number, Null, Collate, Concat, Call, Compare, Like, Glob, Regexp, IsNull, And, Or, Not]
CONDITIONS = (Compare, Like, Glob, Regexp, IsNull, And, Or, Not)  # nodes that are true, false or NULL


def is_condition(node: Node) -> bool:
    """A node SQL reads as a truth value (COALESCE(condition, 0) included, as the backend writes NOT)."""
    if isinstance(node, Call):
        return node.name == "COALESCE" and len(node.args) == 2 and is_condition(node.args[0])
    return isinstance(node, CONDITIONS)


def describe(node: Node) -> str:
    """A node named in a refusal."""
    if isinstance(node, Call):
        return f"function {node.name}()"
    if isinstance(node, Compare):
        return f"operator {node.op}"
    return type(node).__name__.upper()


# --------------------------------------------------------------------------------------------------
# Tokens
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
_OPS = {"<>": "!=", "==": "="}


def tokenize(sql: str) -> list[tuple[str, object]]:
    """(kind, value) pairs: str, id, num, kw (upper-cased), op; then ("end", None)."""
    tokens, pos = [], 0
    while True:
        while pos < len(sql) and sql[pos] in " \t\r\n":
            pos += 1
        if pos == len(sql):
            break
        m = _TOKEN.match(sql, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"unexpected SQL at {sql[pos:pos + 30]!r}")
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
            tokens.append(("op", _OPS.get(text, text)))
    tokens.append(("end", None))
    return tokens


# --------------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------------

#: Infix operators: token -> (binding power, the method that reads the rest). An operator applies while
#: its power is above the caller's minimum; its right operand is read at the power given in the method.
_INFIX = {
    ("kw", "OR"): (1, "_or"),
    ("kw", "AND"): (2, "_and"),
    ("kw", "IS"): (4, "_is"),
    ("kw", "NOT"): (4, "_not_match"),  # NOT LIKE / GLOB / REGEXP only (see _operator)
    ("kw", "LIKE"): (4, "_match"),
    ("kw", "GLOB"): (4, "_match"),
    ("kw", "REGEXP"): (4, "_match"),
    ("op", "="): (4, "_compare"),
    ("op", "!="): (4, "_compare"),
    ("op", "<"): (5, "_compare"),
    ("op", "<="): (5, "_compare"),
    ("op", ">"): (5, "_compare"),
    ("op", ">="): (5, "_compare"),
    ("op", "||"): (7, "_concat"),
    ("kw", "COLLATE"): (9, "_collate"),
}
_MATCHES = (("kw", "LIKE"), ("kw", "GLOB"), ("kw", "REGEXP"))


class _Parser:
    def __init__(self, sql: str):
        self.tokens = tokenize(sql)
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
            raise Unsupported(f"expected {value or kind}, found {tok[1]!r}")
        return tok

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek()[0] != "end":
            raise Unsupported(f"trailing SQL: {self.peek()[1]!r}")
        return node

    def expr(self, min_bp: int) -> Node:
        left = self.prefix()
        while (method := self._operator(min_bp)) is not None:
            left = method(left)
        return left

    def _operator(self, min_bp: int):
        """The method reading the infix operator ahead, if it binds tighter than `min_bp`."""
        token = self.peek()
        power, name = _INFIX.get(token, (0, None))
        if power <= min_bp:
            return None
        if token == ("kw", "NOT") and self.peek(1) not in _MATCHES:
            return None
        return getattr(self, name)

    # -- operands ----------------------------------------------------------------------------------

    def prefix(self) -> Node:
        kind, value = self.take()
        if kind == "kw" and value == "NOT":
            return Not(self.expr(3))
        if kind == "kw" and value == "NULL":
            return Null()
        if kind == "op" and value in ("+", "-"):
            nkind, nvalue = self.take()
            if nkind != "num":
                raise Unsupported("unary sign before a non-literal")
            return Number(value + nvalue)
        if kind == "op" and value == "(":
            node = self.expr(0)
            self.expect("op", ")")
            return node
        if kind == "str":
            return String(value)
        if kind == "num":
            return Number(value)
        if kind == "id":
            return self._call(value) if self.peek() == ("op", "(") else Column(value)
        raise Unsupported(f"unsupported SQL token {value!r}")

    def _call(self, name: str) -> Call:
        self.take()
        args = [self.expr(0)]
        while self.peek() == ("op", ","):
            self.take()
            args.append(self.expr(0))
        self.expect("op", ")")
        return Call(name.upper(), tuple(args))

    # -- infix operators ---------------------------------------------------------------------------

    def _or(self, left: Node) -> Node:
        self.take()
        return Or(left, self.expr(1))

    def _and(self, left: Node) -> Node:
        self.take()
        return And(left, self.expr(2))

    def _is(self, left: Node) -> Node:
        """`x IS [NOT] y` is SQLite's NULL-safe comparison, y an expression like any other (`a IS NULL < b` is
        `a IS (NULL < b)`): only y = NULL is read."""
        self.take()
        negated = self.peek() == ("kw", "NOT")
        if negated:
            self.take()
        right = self.expr(4)
        if not isinstance(right, Null):
            raise Unsupported(f"IS {'NOT ' if negated else ''}with an operand other than NULL")
        return IsNull(left, negated)

    def _not_match(self, left: Node) -> Node:
        self.take()
        return Not(self._match(left))

    def _match(self, left: Node) -> Node:
        _, op = self.take()
        right = self.expr(4)
        escape = None
        if self.peek() == ("kw", "ESCAPE"):
            if op != "LIKE":
                raise Unsupported(f"ESCAPE after {op}")
            self.take()
            # SQLite's grammar reduces `x LIKE y ESCAPE z` at LIKE's precedence: z takes every tighter
            # operator after it (`ESCAPE '\' < a` is `ESCAPE ('\' < a)`), as y does
            escape = self.expr(4)
        if op == "LIKE":
            return Like(left, right, escape)
        return Glob(left, right) if op == "GLOB" else Regexp(left, right)

    def _compare(self, left: Node) -> Node:
        _, op = self.take()
        return Compare(op, left, self.expr(_INFIX[("op", op)][0]))

    def _concat(self, left: Node) -> Node:
        self.take()
        return Concat(left, self.expr(7))

    def _collate(self, left: Node) -> Node:
        self.take()
        _, name = self.expect("id")
        return Collate(left, name.upper())


def parse_expression(sql: str) -> Node:
    """An SQL expression of the backend's subset as a tree; raises Unsupported."""
    try:
        return _Parser(sql).parse()
    except (RecursionError, MemoryError) as e:
        raise Unsupported(f"the condition is too deeply nested to parse ({type(e).__name__})") from e


@lru_cache(maxsize=1024)
def parse_query(sql: str) -> Node:
    """The condition of a query the reference engine runs (`SELECT * FROM cloudtrail WHERE <condition>`);
    raises Unsupported for another shape, a NUL (sqlite3 refuses one in a query), or a condition that is
    a bare value."""
    if not sql.startswith(PREFIX):
        raise Unsupported(f"unexpected query shape: {sql[:60]!r}")
    where = sql[len(PREFIX):]
    if "\x00" in where:
        raise Unsupported("the query contains a NUL character, which sqlite3 (the reference) refuses")
    tree = parse_expression(where)
    if not is_condition(tree):
        raise Unsupported("the WHERE clause is a bare value")
    return tree
