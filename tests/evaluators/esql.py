"""A parser and evaluator for the subset of ES|QL that pySigma's ES|QL backend (with the `ecs_cloudtrail`
pipeline) emits, run over ECS documents with ES|QL's semantics.

Syntax follows Elasticsearch's ES|QL grammar (x-pack/plugin/esql/src/main/antlr, EsqlBaseLexer.g4):
commands `from <patterns> [metadata ...]`, `where`, `eval`, `stats ... [by ...]`, `mv_expand`, `keep`, `limit`;
keywords are case-insensitive; strings are "..." with the escapes \\t \\n \\r \\" \\\\ only and no raw line
breaks (`fragment ESCAPE_SEQUENCE : '\\\\' [tnr"\\\\]`, `UNESCAPED_CHARS : ~[\\r\\n"\\\\]`), or \"\"\"...\"\"\" with
no escapes; identifiers are dotted names or `back-quoted` (`` `` `` escapes a back-quote).

Semantics (https://www.elastic.co/guide/en/elasticsearch/reference/current/esql-language.html):
* `==`, `in`, `like`, `starts_with`... on keyword columns compare exactly and case-sensitively;
* null and multi-valued operands make comparisons and functions null (with a warning in Elasticsearch),
  and `where` keeps only rows where the condition is true (three-valued logic for and/or/not);
* `like`: `*` any characters, `?` one character, `\\` escapes; the whole value must match;
* `stats ... by`: one row per group, a multi-valued key puts the row in each of its groups;
* a column ES|QL cannot read is an error: flattened fields (ES|QL limitations, "Unsupported types",
  https://www.elastic.co/guide/en/elasticsearch/reference/current/esql-limitations.html) and columns the
  AWS integration does not map.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any

from elastic_ingest import ecs_field_values

from . import lucene_regexp
from .field_types import field_type, field_types
from .syntax import And, Call, Compare, Field, In, Lit, Not, Or, TokenCursor, Wildcards, and3, compare, not3, or3
from .values import iso_datetime


class EsqlError(Exception):
    """A query Elasticsearch would reject (syntax, unknown or unsupported column)."""


#: The data stream's mapped fields (the integration's own field declarations, field_types.py) and the
#: metadata fields the rules ask for.
KNOWN_COLUMNS = set(field_types()) | {"_id", "_index", "_version"}

# ---------------------------------------------------------------------------------------- lexer
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<triple>\"\"\"(?:[^\r\n])*?\"\"\"\"?\"?)
  | (?P<string>"(?:\\[tnr"\\]|[^\r\n"\\])*")
  | (?P<badstring>")
  | (?P<quoted>`(?:[^`]|``)+`)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>==|!=|<=|>=|<|>|=|\(|\)|,|\|)
  | (?P<ident>[A-Za-z_@][A-Za-z0-9_@]*(?:\.[A-Za-z0-9_@]+)*)
  | (?P<pattern>[A-Za-z0-9_.*:\-]+)
    """,
    re.X,
)


@dataclass
class Tok:
    kind: str
    text: str
    value: Any = None


def _unescape(body: str) -> str:
    return re.sub(r"\\([tnr\"\\])", lambda m: {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}[m.group(1)], body)


def tokenize(text: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.lastgroup == "badstring":
            raise EsqlError(f"cannot read the query at {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        kind, tok = m.lastgroup, m.group(0)
        if kind == "ws":
            continue
        if kind == "triple":
            out.append(Tok("string", tok, tok[3:].split('"""')[0]))
        elif kind == "string":
            out.append(Tok("string", tok, _unescape(tok[1:-1])))
        elif kind == "quoted":
            out.append(Tok("ident", tok, tok[1:-1].replace("``", "`")))
        elif kind == "number":
            out.append(Tok("number", tok, float(tok) if any(c in tok for c in ".eE") else int(tok)))
        elif kind in ("ident", "pattern"):
            out.append(Tok("ident" if kind == "ident" else "pattern", tok, tok))
        else:
            out.append(Tok("op", tok, tok))
    return out


# ------------------------------------------------------------------------------------------- AST
# The nodes below, and Field, Lit, Call, Compare (== != < <= > >=), In, Not, And, Or from .syntax


@dataclass
class Span:
    seconds: int


@dataclass
class Like:
    expr: Any
    pattern: str
    regex: bool = False
    negated: bool = False


@dataclass
class IsNull:
    expr: Any
    negated: bool = False


@dataclass
class Command:
    name: str
    args: dict = field(default_factory=dict)


_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "s": 1, "minute": 60, "minutes": 60, "min": 60,
    "hour": 3600, "hours": 3600, "h": 3600, "day": 86400, "days": 86400, "d": 86400,
    "week": 604800, "weeks": 604800, "w": 604800,
}


_SOURCE = re.compile(
    r"\s*from\s+(?P<patterns>[^\s|,]+(?:\s*,\s*[^\s|,]+)*)"
    r"(?:\s+metadata\s+(?P<metadata>[A-Za-z_]+(?:\s*,\s*[A-Za-z_]+)*))?\s*(?=\||$)",
    re.I,
)


class Parser(TokenCursor):
    error = EsqlError
    input_name = "query"

    def __init__(self, text: str):
        m = _SOURCE.match(text)
        if not m:
            raise EsqlError("a query starts with: from <index patterns> [metadata <fields>]")
        self.source_command = Command(
            "from",
            {
                "patterns": [p.strip() for p in m.group("patterns").split(",")],
                "metadata": [f.strip() for f in (m.group("metadata") or "").split(",") if f.strip()],
            },
        )
        super().__init__(tokenize(text[m.end():]))

    def same_text(self, tok: Tok, text: str) -> bool:
        return tok.text.lower() == text  # keywords are case-insensitive

    def word(self, k: int = 0) -> str:
        t = self.peek(k)
        return t.text.lower() if t and t.kind in ("ident", "pattern") else ""

    # commands
    def query(self) -> list[Command]:
        commands = [self.source_command]
        while self.accept(text="|"):
            commands.append(self.processing())
        if self.peek() is not None:
            raise EsqlError(f"unexpected {self.peek().text!r}")
        return commands

    def processing(self) -> Command:
        name = self.word()
        self.i += 1
        if name == "where":
            return Command("where", {"expr": self.expr()})
        if name == "eval":
            return Command("eval", {"assign": self.assignments()})
        if name == "stats":
            aggs = self.assignments()
            by = []
            if self.accept(text="by"):
                by.append(self.expr())
                while self.accept(text=","):
                    by.append(self.expr())
            return Command("stats", {"aggs": aggs, "by": by})
        if name == "mv_expand":
            return Command("mv_expand", {"name": self.expect("ident").value})
        if name == "keep":
            names = [self.expect("ident").value]
            while self.accept(text=","):
                names.append(self.expect("ident").value)
            return Command("keep", {"names": names})
        if name == "limit":
            return Command("limit", {"n": self.expect("number").value})
        raise EsqlError(f"unsupported command {name!r}")

    def assignments(self) -> list[tuple[str, Any]]:
        out = [self.assignment()]
        while self.accept(text=","):
            out.append(self.assignment())
        return out

    def assignment(self) -> tuple[str, Any]:
        t, nxt = self.peek(), self.peek(1)
        if t and t.kind == "ident" and nxt and nxt.text == "=":
            self.i += 2
            return t.value, self.expr()
        start = self.i
        expr = self.expr()
        return " ".join(tok.text for tok in self.tokens[start : self.i]), expr

    # expressions
    def expr(self):
        args = [self.and_expr()]
        while self.accept(text="or"):
            args.append(self.and_expr())
        return Or.of(args)

    def and_expr(self):
        args = [self.not_expr()]
        while self.accept(text="and"):
            args.append(self.not_expr())
        return And.of(args)

    def not_expr(self):
        if self.accept(text="not"):
            return Not(self.not_expr())
        return self.predicate()

    def predicate(self):
        left = self.primary()
        t = self.peek()
        if t is None:
            return left
        if t.kind == "op" and t.text in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return Compare(t.text, left, self.primary())
        negated = False
        if self.word() == "not" and self.word(1) in ("in", "like", "rlike"):
            self.i += 1
            negated = True
        w = self.word()
        if w == "in":
            self.i += 1
            self.expect(text="(")
            items = [self.expr()]
            while self.accept(text=","):
                items.append(self.expr())
            self.expect(text=")")
            return In(left, tuple(items), negated)
        if w in ("like", "rlike"):
            self.i += 1
            return Like(left, self.expect("string").value, regex=w == "rlike", negated=negated)
        if w == "is":
            self.i += 1
            neg = self.accept(text="not") is not None
            self.expect(text="null")
            return IsNull(left, neg)
        return left

    def primary(self):
        t = self.next()
        if t.kind == "string":
            return Lit(t.value)
        if t.kind == "number":
            unit = self.peek()
            if unit and unit.kind == "ident" and unit.text.lower() in _UNITS:
                self.i += 1
                return Span(int(t.value) * _UNITS[unit.text.lower()])
            return Lit(t.value)
        if t.kind == "pattern":
            m = re.fullmatch(r"(\d+)([A-Za-z]+)", t.text)
            if m and m.group(2).lower() in _UNITS:
                return Span(int(m.group(1)) * _UNITS[m.group(2).lower()])
            raise EsqlError(f"unexpected {t.text!r}")
        if t.text == "(":
            e = self.expr()
            self.expect(text=")")
            return e
        if t.kind == "ident":
            low = t.text.lower()
            if low in ("true", "false"):
                return Lit(low == "true")
            if low == "null":
                return Lit(None)
            if self.peek() and self.peek().text == "(" and not t.text.startswith("`"):
                self.i += 1
                args = []
                if not self.accept(text=")"):
                    args.append(self.expr())
                    while self.accept(text=","):
                        args.append(self.expr())
                    self.expect(text=")")
                return Call(low, tuple(args))
            return Field(t.value)
        raise EsqlError(f"unexpected {t.text!r}")


@lru_cache(maxsize=256)
def _parse_cached(query: str) -> tuple[Command, ...]:
    return tuple(Parser(query).query())


def parse(query: str) -> list[Command]:
    return list(_parse_cached(query))


# ------------------------------------------------------------------------------------- evaluation
_NULL = None


def _scalar(value):
    """ES|QL: functions and operators on a multi-valued value return null."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else _NULL
    return value


#: LIKE: `*` any characters, `?` one character, `\\` escapes; the whole value must match.
LIKE_WILDCARDS = Wildcards(many="*", one="?", escape="\\")


def _date(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return iso_datetime(value)
    return None


class Row(dict):
    doc: dict | None = None


def _column(row: Row, name: str):
    if name in row:
        return row[name]
    if row.doc is None:
        raise EsqlError(f"Unknown column [{name}]")
    if name not in KNOWN_COLUMNS:
        raise EsqlError(f"Unknown column [{name}] (not mapped by the AWS integration)")
    if name in ("_id", "_index", "_version"):  # metadata the `from ... metadata` clause asks for
        return row.doc.get(name)
    if field_type(name) == "flattened":
        raise EsqlError(f"Cannot use field [{name}] with unsupported type [flattened]")
    values = ecs_field_values(row.doc, name)
    return None if not values else values[0] if len(values) == 1 else values


def _truth(value) -> bool | None:
    return None if value is None else bool(value)


def _kind(value) -> str:
    """What ES|QL compares a value with: numbers with numbers, otherwise values of one type."""
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def evaluate(node, row: Row):
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Span):
        return timedelta(seconds=node.seconds)
    if isinstance(node, Field):
        return _column(row, node.name)
    if isinstance(node, Not):
        return not3(_truth(_scalar(evaluate(node.arg, row))))
    if isinstance(node, And):
        return and3([_truth(_scalar(evaluate(a, row))) for a in node.args])
    if isinstance(node, Or):
        return or3([_truth(_scalar(evaluate(a, row))) for a in node.args])
    if isinstance(node, Compare):
        a, b = _scalar(evaluate(node.left, row)), _scalar(evaluate(node.right, row))
        if a is None or b is None:
            return None
        if isinstance(a, str) and isinstance(b, str) and (_date(a) and _date(b)) and node.op not in ("==", "!="):
            a, b = _date(a), _date(b)
        if _kind(a) != _kind(b):  # a verification error in ES|QL, == and != included
            raise EsqlError(f"cannot compare {a!r} {node.op} {b!r}")
        try:
            return compare(node.op, a, b)
        except TypeError as e:
            raise EsqlError(f"cannot compare {a!r} {node.op} {b!r}") from e
    if isinstance(node, In):
        v = _scalar(evaluate(node.operand, row))
        if v is None:
            return None
        hit = any(v == _scalar(evaluate(item, row)) for item in node.values)
        return not hit if node.negated else hit
    if isinstance(node, Like):
        v = _scalar(evaluate(node.expr, row))
        if v is None:
            return None
        hit = bool((lucene_regexp.compile(node.pattern) if node.regex else LIKE_WILDCARDS.regex(node.pattern, re.S)).fullmatch(str(v)))
        return not hit if node.negated else hit
    if isinstance(node, IsNull):
        v = evaluate(node.expr, row)
        return (v is not None) if node.negated else (v is None)
    if isinstance(node, Call):
        return _call(node, row)
    raise EsqlError(f"cannot evaluate {node!r}")


def _case(node: Call, row: Row):
    """CASE(condition, value, ..., [else]): the value of the first true condition; null without an else."""
    args = node.args
    for i in range(0, len(args) - 1, 2):
        if _truth(evaluate(args[i], row)) is True:
            return evaluate(args[i + 1], row)
    return evaluate(args[-1], row) if len(args) % 2 else None


def _call(node: Call, row: Row):
    if node.name == "case":
        return _case(node, row)
    args = [_scalar(evaluate(a, row)) for a in node.args]
    if any(a is None for a in args):
        return None
    name = node.name
    if name == "starts_with":
        return str(args[0]).startswith(args[1])
    if name == "ends_with":
        return str(args[0]).endswith(args[1])
    if name == "to_lower":
        return str(args[0]).lower()
    if name == "to_upper":
        return str(args[0]).upper()
    if name == "cidr_match":
        try:
            ip = ipaddress.ip_address(str(args[0]))
        except ValueError:
            return None
        return any(ip in ipaddress.ip_network(c, strict=False) for c in args[1:])
    if name == "date_diff":
        # DATE_DIFF(unit, start, end): end - start in whole units (ES|QL functions reference)
        unit, start, end = str(args[0]).lower(), _date(args[1]), _date(args[2])
        size = {"millisecond": 0.001, "milliseconds": 0.001, "ms": 0.001, "second": 1, "seconds": 1, "minute": 60, "minutes": 60}[unit]
        return int((end - start).total_seconds() / size)
    if name == "date_trunc":
        span, when = args[0], _date(args[1])
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        seconds = int((when - epoch).total_seconds())
        return epoch + timedelta(seconds=seconds - seconds % int(span.total_seconds()))
    raise EsqlError(f"unsupported function {name}()")


def _aggregate(expr, rows: list[Row]):
    if not isinstance(expr, Call):
        raise EsqlError("stats needs aggregate functions")
    if expr.name == "count":
        if not expr.args:
            return len(rows)
        return sum(len(v) if isinstance(v, list) else 1 for r in rows if (v := evaluate(expr.args[0], r)) is not None)
    values = []
    for r in rows:
        v = evaluate(expr.args[0], r)
        values.extend(v if isinstance(v, list) else [] if v is None else [v])
    if expr.name == "values":
        distinct = sorted(set(map(str, values)))
        return None if not distinct else distinct[0] if len(distinct) == 1 else distinct
    if expr.name in ("min", "max"):
        dates = [_date(v) for v in values]
        keys = dates if values and all(dates) else values
        if not values:
            return None
        pick = min if expr.name == "min" else max
        return values[keys.index(pick(keys))]
    if expr.name == "count_distinct":
        return len(set(map(str, values)))
    raise EsqlError(f"unsupported aggregation {expr.name}()")


@dataclass
class Result:
    rows: list[Row]

    @property
    def documents(self) -> list[dict]:
        return [r.doc for r in self.rows if r.doc is not None]


def run(query: str, docs: list[dict]) -> Result:
    commands = parse(query)
    rows: list[Row] = []
    for doc in docs:
        r = Row()
        r.doc = doc
        rows.append(r)
    for command in commands[1:]:
        if command.name == "where":
            rows = [r for r in rows if evaluate(command.args["expr"], r) is True]
        elif command.name == "eval":
            for r in rows:
                for name, expr in command.args["assign"]:
                    r[name] = evaluate(expr, r)
        elif command.name == "stats":
            groups: dict[tuple, list[Row]] = {}
            keys_of: dict[tuple, list] = {}
            by = command.args["by"]
            for r in rows:
                keys = [evaluate(b, r) for b in by]
                combos = [[]]
                for k in keys:
                    options = k if isinstance(k, list) else [k]
                    combos = [c + [o] for c in combos for o in options]
                for combo in combos:
                    key = tuple(str(c) if isinstance(c, datetime) else c for c in combo)
                    groups.setdefault(key, []).append(r)
                    keys_of[key] = combo
            out = []
            for key, members in groups.items():
                g = Row()
                g.doc = None
                for name, expr in command.args["aggs"]:
                    g[name] = _aggregate(expr, members)
                for b, value in zip(by, keys_of[key]):
                    g[b.name if isinstance(b, Field) else str(b)] = value
                # the documents behind the row (after a stats of stats rows: theirs), for the tests to name events
                g["_members"] = [m.doc for m in members if m.doc is not None] or [d for m in members for d in m.get("_members", [])]
                out.append(g)
            rows = out
        elif command.name == "mv_expand":
            rows = [e for r in rows for e in _mv_expand(r, command.args["name"])]
        elif command.name == "keep":
            rows = [_keep(r, command.args["names"]) for r in rows]
        elif command.name == "limit":
            rows = rows[: command.args["n"]]
    return Result(rows)


def row_events(row: Row) -> list[dict]:
    """The documents an aggregated row stands for (what the tests name an alert's events by): a counting
    correlation's row, all its group's documents; a row without a count column (the ordered correlation's pairs
    of steps: which first step a run pairs depends on what it has seen yet) its second step, found by last_seen."""
    members = row.get("_members", [])
    if any(k in row for k in ("event_count", "value_count", "event_type_count")) or "last_seen" not in row:
        return members
    last = _date(row["last_seen"])
    return [d for d in members if _date(d.get("@timestamp")) == last]


def _mv_expand(r: Row, name: str) -> list[Row]:
    """MV_EXPAND: one row per value of a multi-valued column (a single or null value: the row as it is)."""
    values = _column(r, name)
    if not isinstance(values, list):
        return [r]
    out = []
    for value in values:
        e = Row(r)
        e.doc = r.doc
        e[name] = value
        out.append(e)
    return out


def _keep(r: Row, names: list[str]) -> Row:
    k = Row({n: _column(r, n) for n in names})
    k.doc = r.doc
    return k


def compared_values(query: str) -> list[tuple[str, Any]]:
    """(column, literal) of every comparison with a string literal: what the hostile-value tests read back."""
    out: list[tuple[str, Any]] = []

    def walk(node):
        if isinstance(node, (And, Or)):
            for arg in node.args:
                walk(arg)
        elif isinstance(node, Compare):
            if isinstance(node.left, Field) and isinstance(node.right, Lit):
                out.append((node.left.name, node.right.value))
        elif isinstance(node, Not):
            walk(node.arg)
        elif isinstance(node, In) and isinstance(node.operand, Field):
            out.extend((node.operand.name, item.value) for item in node.values if isinstance(item, Lit))
        elif isinstance(node, Like) and isinstance(node.expr, Field):
            out.append((node.expr.name, ("like" if not node.regex else "rlike", node.pattern)))
        elif isinstance(node, Call) and node.name in ("starts_with", "ends_with") and isinstance(node.args[0], Field):
            out.append((node.args[0].name, (node.name, node.args[1].value)))

    for command in parse(query):
        if command.name == "where":
            walk(command.args["expr"])
    return out
