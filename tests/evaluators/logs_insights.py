r"""An evaluator for the subset of CloudWatch Logs Insights QL that the pack's CloudWatch backend writes.

It parses the exact query text and runs it over CloudTrail records (dicts) as they sit in a CloudWatch Logs log
group, with the semantics AWS documents. It is strict: a command, operator, function or regex construct outside
the subset is an error (`LogsInsightsError`), not a skip; where the documentation leaves the meaning open, the
evaluator takes the stricter reading and says so below, so output it accepts is right under either reading.

References (Amazon CloudWatch Logs User Guide):

[SYNTAX] CWL_QuerySyntax: commands separated by `|`; `fields`, `filter`, `stats`, `sort`, `limit`. "Any log field
         named in a query that has characters other than the @ sign, the period (.), and alphanumeric
         characters must be surrounded by backtick characters." Query strings are at most 10,000 characters
         (StartQuery API reference, queryString length constraint).
[FILTER] CWL_QuerySyntax "Matches and regular expressions in the filter command": comparison operators
         `=, !=, <, <=, >, >=`, Boolean `and`, `or`, `not`; `in [...]` tests set membership, "the fields must be
         complete strings"; `like "substring"` matches a substring, `like /regex/` and `=~ /regex/` a regular
         expression; "All three examples are case sensitive"; case-insensitivity with `(?i)`.
[REGEX]  Same section: "CloudWatch Logs Insights supports Hyperscan" - PCRE syntax, without backreferences,
         lookaround, atomic groups, possessive quantifiers, `\K`, `\R`, `\C` (Hyperscan "Pattern Support").
[FUNCS]  CWL_QuerySyntax "Supported operations and functions": `ispresent(field)` "Returns true if the field
         exists"; `isIpInSubnet(field, subnet)` "Returns true if the field is a valid IPv4 or IPv6 address within
         the specified v4 or v6 subnet"; "String functions": `tolower(string)` "Converts the string to
         lowercase" (the backend writes it for field references, one field per call).
[STATS]  CWL_QuerySyntax-Stats: `stats count(*) by queryType, bin(1h)`; bin units ms, s, m, h, d, w, mo, q, y.
         Aggregations `count(*)`, `count(field)` ("records that include the specified field"),
         `count_distinct`, `sum`, `avg`, `pct(field, p)` ("the value at which p percent of the values are
         lower"). `bin(period)` "Rounds the value of @timestamp to the given time period and then truncates":
         fixed buckets, here aligned to the Unix epoch in UTC; only ms/s/m/h/d are modelled (weeks, months,
         quarters and years have no documented alignment).
[FIELDS] CWL_AnalyzeLogData-discoverable-fields: "@message contains the raw unparsed log event", `@timestamp` the
         event time; nested JSON fields in dot notation, array elements by index (`...items.0.instanceId`);
         at most 200 fields are extracted from a JSON event (the evaluator refuses larger records).

Undocumented, and read strictly here:

* A comparison on a field the event lacks is *unknown* (SQL three-valued logic): `not` of it is unknown too and a
  filter keeps only rows that are true. (If Logs Insights reads it as false, output correct here is still correct.)
* Precedence between `and` and `or` is not documented: an unparenthesized mix of the two is an error.
* Escape sequences in quoted strings are not documented: a backslash in a string is an error.
* Case-insensitive `(?i)` is applied to ASCII letters only (regexes compile with `re.ASCII`), as whether
  Hyperscan folds other letters depends on a mode AWS does not state.
* JSON booleans in discovered fields have no documented representation: comparing one is an error. JSON null is
  an absent field. A number compared with a string literal is compared as its JSON text.
* `tolower` of an absent field is unknown; of a value with letters outside ASCII it is an error, as whether it folds
  them is not documented (ASCII letters are folded, digits and punctuation kept).

`@timestamp` is the record's `eventTime`. In a log group CloudTrail fills, it is the time CloudTrail delivered the
event ("The Time (UTC) column in the CloudWatch console shows when the event was delivered to your log group. To
see the actual time that the event was logged by CloudTrail, see the eventTime field", CloudTrail User Guide,
"Sending events to CloudWatch Logs"), minutes later; the records carry no delivery time, so the evaluator uses the
event time, which is exact for an event delivered at once. tests/execution/ models the delay.
Rows carry the indexes of the records they came from (`Row.events`), which Logs Insights does not show.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Union

from .syntax import (
    And,
    Call,
    Compare,
    Field,
    In,
    Lit,
    Not,
    Or,
    TokenCursor,
    and3,
    compare,
    not3,
    or3,
    pcre_class_start,
    pcre_named_group,
)
from .values import finite_number, iso_datetime, leaves

QUERY_STRING_MAX_LENGTH = 10_000
MAX_DISCOVERED_FIELDS = 200
BOOLEAN_FUNCTIONS = {"ispresent", "isIpInSubnet"}
AGGREGATIONS = {"count", "count_distinct", "sum", "avg", "pct"}
BIN_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class LogsInsightsError(Exception):
    """A query outside the evaluated subset, or a record the documented semantics cannot evaluate."""


# ---------------------------------------------------------------------------------------------------------
# Records


def flatten(record: dict) -> dict[str, object]:
    """[FIELDS] Leaf fields in dot notation, array elements by index; JSON null means absent."""
    return dict(leaves(record, lambda name, i: f"{name}.{i}"))


def timestamp_ms(record: dict) -> int:
    text = str(record.get("eventTime", ""))
    when = iso_datetime(text)
    if when is None:
        raise LogsInsightsError(f"record has no usable eventTime for @timestamp: {text!r}")
    return int(when.timestamp() * 1000)


@dataclass
class Row:
    values: dict[str, object]
    events: tuple[int, ...]  # indexes of the records this row was made of


def event_row(index: int, record: dict) -> Row:
    fields = flatten(record)
    if len(fields) > MAX_DISCOVERED_FIELDS:
        raise LogsInsightsError(
            f"record {index} has {len(fields)} fields; Logs Insights extracts at most {MAX_DISCOVERED_FIELDS} and "
            "does not document which"
        )
    fields["@message"] = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    fields["@timestamp"] = timestamp_ms(record)
    return Row(fields, (index,))


# ---------------------------------------------------------------------------------------------------------
# Lexer


@dataclass(frozen=True)
class Token:
    kind: str  # ident, name (backticked), string, regex, number, duration, op, punct, pipe
    text: str
    pos: int


_KEYWORDS = {"and", "or", "not", "like", "in", "by", "as", "asc", "desc"}
_OPS = ("=~", "!=", "<=", ">=", "=", "<", ">")


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":
            # "Use the hash character (#) to set off comments. You can use comments to ignore lines in
            # queries" (CloudWatch Logs User Guide, CWL_QuerySyntax-alias, "Use comments"): to the line's end.
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "|":
            tokens.append(Token("pipe", c, i))
            i += 1
            continue
        if c in "()[],*":
            tokens.append(Token("punct", c, i))
            i += 1
            continue
        op = next((o for o in _OPS if query.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        if c in "\"'":
            end = i + 1
            while end < n and query[end] != c:
                if query[end] == "\\":
                    raise LogsInsightsError(f"escape sequence in a string at {end}: Logs Insights documents none")
                if query[end] == "\n":
                    raise LogsInsightsError(f"line break inside a string at {end}")
                end += 1
            if end >= n:
                raise LogsInsightsError(f"unterminated string at {i}")
            tokens.append(Token("string", query[i + 1 : end], i))
            i = end + 1
            continue
        if c == "/":
            prev = tokens[-1] if tokens else None
            if not prev or not ((prev.kind == "ident" and prev.text == "like") or (prev.kind == "op" and prev.text == "=~")):
                raise LogsInsightsError(f"'/' at {i} outside a regex literal (regexes follow `like` or `=~`)")
            end = i + 1
            while end < n and query[end] != "/":
                if query[end] == "\n":
                    raise LogsInsightsError(f"line break inside a regex literal at {end}")
                end += 2 if query[end] == "\\" else 1
            if end >= n:
                raise LogsInsightsError(f"unterminated regex literal at {i}")
            if end + 1 < n and (query[end + 1].isalnum() or query[end + 1] == "_"):
                raise LogsInsightsError(f"regex flags after the closing slash at {end + 1} are not Logs Insights syntax")
            tokens.append(Token("regex", query[i + 1 : end], i))
            i = end + 1
            continue
        if c == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise LogsInsightsError(f"unterminated backtick name at {i}")
            tokens.append(Token("name", query[i + 1 : end], i))
            i = end + 1
            continue
        m = re.compile(r"-?\d+(\.\d+)?([a-z]+)?").match(query, i)
        if m and (c.isdigit() or (c == "-" and i + 1 < n and query[i + 1].isdigit())):
            tokens.append(Token("duration" if m.group(2) else "number", m.group(0), i))
            i = m.end()
            continue
        m = re.compile(r"[A-Za-z@][A-Za-z0-9@._]*").match(query, i)
        if m:
            tokens.append(Token("ident", m.group(0), i))
            i = m.end()
            continue
        raise LogsInsightsError(f"unexpected character {c!r} at {i}")
    return tokens


# ---------------------------------------------------------------------------------------------------------
# AST: the nodes below, and Field, Lit (a str, or a float for a number), Compare, In, Call, Not, And, Or
# from .syntax


@dataclass(frozen=True)
class RegexLit:
    source: str  # the text between the slashes, as written
    compiled: re.Pattern = field(compare=False)


@dataclass(frozen=True)
class Lower:
    """`tolower(field)` [FUNCS]."""

    operand: Field


@dataclass(frozen=True)
class Like:
    operand: object
    pattern: Union[Lit, RegexLit]  # a string literal: substring; a regex: search


@dataclass(frozen=True)
class Aggregate:
    func: str
    arg: object  # Field, "*" or None
    extra: float | None
    alias: str


@dataclass(frozen=True)
class Bin:
    period_ms: int
    text: str


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple


@dataclass
class Query:
    text: str
    commands: list[Command]

    def filters(self) -> list:
        return [c.args[0] for c in self.commands if c.name == "filter"]

    def run(self, records: list[dict]) -> list[Row]:
        rows = [event_row(i, r) for i, r in enumerate(records)]
        for command in self.commands:
            rows = _run_command(command, rows)
        return rows

    def matching(self, records: list[dict]) -> set[int]:
        """Indexes of the records the query returns (for queries without stats)."""
        if any(c.name == "stats" for c in self.commands):
            raise LogsInsightsError("matching() is for queries without stats; use run()")
        return {i for row in self.run(records) for i in row.events}


# ---------------------------------------------------------------------------------------------------------
# Parser


class _Parser(TokenCursor):
    error = LogsInsightsError
    input_name = "query"

    def at_end_of_command(self) -> bool:
        tok = self.peek()
        return tok is None or tok.kind == "pipe"

    # commands
    def query(self) -> list[Command]:
        commands = [self.command()]
        while self.accept("pipe"):
            commands.append(self.command())
        return commands

    def command(self) -> Command:
        tok = self.expect("ident")
        name = tok.text
        if name == "fields":
            args = [self.field_ref()]
            while self.accept("punct", ","):
                args.append(self.field_ref())
            command = Command("fields", tuple(args))
        elif name == "filter":
            command = Command("filter", (self.expression(),))
        elif name == "stats":
            command = self.stats()
        elif name == "sort":
            target = self.field_ref()
            order = self.accept("ident", "desc") or self.accept("ident", "asc")
            command = Command("sort", (target, order.text if order else "asc"))
        elif name == "limit":
            number = self.expect("number")
            command = Command("limit", (int(number.text),))
        else:
            raise LogsInsightsError(f"command {name!r} is not in the evaluated subset")
        if not self.at_end_of_command():
            raise LogsInsightsError(f"unexpected {self.peek().text!r} at {self.peek().pos} in `{name}`")
        return command

    def field_ref(self) -> Field:
        tok = self.next()
        if tok.kind == "name":
            return Field(tok.text)
        if tok.kind == "ident" and tok.text not in _KEYWORDS:
            if "_" in tok.text:
                raise LogsInsightsError(f"field {tok.text!r} needs backticks ([SYNTAX]: only @, . and alphanumerics bare)")
            return Field(tok.text)
        raise LogsInsightsError(f"expected a field name, got {tok.text!r}")

    def stats(self) -> Command:
        aggs = [self.aggregate()]
        while self.accept("punct", ","):
            aggs.append(self.aggregate())
        groups: list = []
        if self.accept("ident", "by"):
            groups.append(self.group_item())
            while self.accept("punct", ","):
                groups.append(self.group_item())
        return Command("stats", (tuple(aggs), tuple(groups)))

    def aggregate(self) -> Aggregate:
        func = self.expect("ident").text
        if func not in AGGREGATIONS:
            raise LogsInsightsError(f"stats function {func!r} is not in the evaluated subset")
        self.expect("punct", "(")
        extra = None
        if func == "count" and self.accept("punct", "*"):
            arg: object = "*"
        else:
            arg = self.field_ref()
            if func == "pct":
                self.expect("punct", ",")
                extra = float(self.expect("number").text)
        self.expect("punct", ")")
        text = f"{func}({'*' if arg == '*' else arg.name}{'' if extra is None else f', {extra:g}'})"
        alias = self.expect("ident").text if self.accept("ident", "as") else text
        return Aggregate(func, arg, extra, alias)

    def group_item(self):
        tok = self.peek()
        if tok and tok.kind == "ident" and tok.text == "bin" and self.peek(1) and self.peek(1).text == "(":
            self.next()
            self.expect("punct", "(")
            duration = self.expect("duration")
            self.expect("punct", ")")
            m = re.fullmatch(r"(\d+)([a-z]+)", duration.text)
            unit = m.group(2)
            if unit not in BIN_UNITS_MS:
                raise LogsInsightsError(f"bin unit {unit!r} is not modelled ([STATS]: no documented alignment)")
            return Bin(int(m.group(1)) * BIN_UNITS_MS[unit], f"bin({duration.text})")
        return self.field_ref()

    # expressions
    def expression(self):
        args = [self.unary()]
        ops: set[str] = set()
        while (tok := self.peek()) and tok.kind == "ident" and tok.text in ("and", "or"):
            self.next()
            ops.add(tok.text)
            args.append(self.unary())
        if len(ops) > 1:
            raise LogsInsightsError("`and` and `or` mixed without parentheses: their precedence is not documented")
        return (And if ops.pop() == "and" else Or)(tuple(args)) if ops else args[0]

    def unary(self):
        if self.accept("ident", "not"):
            tok = self.peek()
            if tok and tok.kind == "punct" and tok.text == "(":
                return Not(self.group())
            if tok and tok.kind == "ident" and tok.text in BOOLEAN_FUNCTIONS:
                return Not(self.call())
            raise LogsInsightsError("`not` must be followed by a parenthesized group or a boolean function")
        tok = self.peek()
        if tok and tok.kind == "punct" and tok.text == "(":
            return self.group()
        return self.predicate()

    def group(self):
        self.expect("punct", "(")
        expr = self.expression()
        self.expect("punct", ")")
        return expr

    def call(self) -> Call:
        name = self.expect("ident").text
        self.expect("punct", "(")
        if name == "ispresent":
            args: tuple = (self.field_ref(),)
        elif name == "isIpInSubnet":
            target = self.field_ref()
            self.expect("punct", ",")
            subnet = self.expect("string").text
            try:
                network = ipaddress.ip_network(subnet)
            except ValueError as e:
                raise LogsInsightsError(f"isIpInSubnet: invalid subnet {subnet!r}") from e
            args = (target, network)
        else:
            raise LogsInsightsError(f"function {name!r} is not in the evaluated subset")
        self.expect("punct", ")")
        return Call(name, args)

    def operand(self):
        tok = self.peek()
        if tok is None:
            raise LogsInsightsError("unexpected end of query in an expression")
        if tok.kind in ("string", "number"):
            return self.literal()
        nxt = self.peek(1)
        if tok.kind == "ident" and tok.text == "tolower" and nxt is not None and nxt.kind == "punct" and nxt.text == "(":
            self.next()
            self.expect("punct", "(")
            target = self.field_ref()
            self.expect("punct", ")")
            return Lower(target)
        return self.field_ref()

    def predicate(self):
        tok = self.peek()
        if tok and tok.kind == "ident" and tok.text in BOOLEAN_FUNCTIONS:
            return self.call()
        left = self.operand()
        tok = self.next()
        if tok.kind == "op" and tok.text == "=~":
            return Like(left, self.regex())
        if tok.kind == "op":
            return Compare(tok.text, left, self.operand())
        if tok.kind == "ident" and tok.text == "like":
            nxt = self.peek()
            if nxt and nxt.kind == "string":
                self.next()
                return Like(left, Lit(nxt.text))
            return Like(left, self.regex())
        if tok.kind == "ident" and tok.text == "in":
            self.expect("punct", "[")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.expect("punct", "]")
            return In(left, tuple(values))
        raise LogsInsightsError(f"unexpected {tok.text!r} at {tok.pos} after an operand")

    def literal(self):
        tok = self.next()
        if tok.kind == "string":
            return Lit(tok.text)
        if tok.kind == "number":
            return Lit(float(tok.text))
        raise LogsInsightsError(f"expected a string or number in a list, got {tok.text!r}")

    def regex(self) -> RegexLit:
        tok = self.expect("regex")
        return RegexLit(tok.text, compile_regex(tok.text))


def parse(query: str) -> Query:
    if len(query) > QUERY_STRING_MAX_LENGTH:
        raise LogsInsightsError(f"query is {len(query)} characters, over StartQuery's {QUERY_STRING_MAX_LENGTH}")
    parser = _Parser(tokenize(query))
    commands = parser.query()
    if parser.peek() is not None:  # pragma: no cover - query() consumes everything or raises
        raise LogsInsightsError(f"trailing text at {parser.peek().pos}")
    return Query(query, commands)


# ---------------------------------------------------------------------------------------------------------
# Regular expressions: PCRE (Hyperscan's subset) -> Python


_UNSUPPORTED_ESCAPES = set("KRCXGQEgkhHvVNpPLlUu") | set("123456789")
_PASS_ESCAPES = set("dDwWsSbBAnrtf")


def translate_regex(pattern: str) -> str:
    """[REGEX] The PCRE pattern as a Python pattern with the same meaning, or LogsInsightsError."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    after_quantifier = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise LogsInsightsError("regex ends with a lone backslash")
            e = pattern[i + 1]
            if e in _UNSUPPORTED_ESCAPES:
                raise LogsInsightsError(f"regex escape \\{e} is not supported by Hyperscan or differs from Python")
            if e == "x":
                m = re.compile(r"x\{([0-9A-Fa-f]{1,6})\}|x([0-9A-Fa-f]{2})").match(pattern, i + 1)
                if not m:
                    raise LogsInsightsError("malformed \\x escape in regex")
                out.append(f"\\U{int(m.group(1) or m.group(2), 16):08x}")
                i = m.end()
            elif e == "z":
                if in_class:
                    raise LogsInsightsError("\\z inside a character class")
                out.append("\\Z")  # PCRE \z: the very end of the subject, which is Python's \Z
                i += 2
            elif e == "Z":
                if in_class:
                    raise LogsInsightsError("\\Z inside a character class")
                out.append("(?=\\n?\\Z)")  # PCRE \Z: end, or before a final newline
                i += 2
            elif e in _PASS_ESCAPES or not (e.isascii() and e.isalnum()):  # PCRE: a backslash makes any other character literal
                out.append("\\" + e)
                i += 2
            elif e == "e":
                out.append("\\x1b")
                i += 2
            elif e == "0":
                out.append("\\x00")
                i += 2
            else:
                raise LogsInsightsError(f"unknown regex escape \\{e}")
            after_quantifier = False
            continue
        if in_class:
            if c == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
                raise LogsInsightsError("POSIX bracket expressions are not evaluated")
            if c == "[":
                out.append("\\[")  # a literal in PCRE classes; Python warns on it
            elif c == "]":
                in_class = False
                out.append(c)
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            start, i = pcre_class_start(pattern, i)
            out.append(start)
            after_quantifier = False
            continue
        if c == "(":
            rest = pattern[i + 1 :]
            if rest.startswith("?"):
                body = rest[1:]
                if body[:1] in ("=", "!") or body[:2] in ("<=", "<!") or body[:1] in (">", "(", "R", "&", "C", "|") or body[:2] == "P=":
                    raise LogsInsightsError(f"regex group (?{body[:2]} is not supported by Hyperscan")
                if pcre_named_group(pattern, i):
                    out.append("(?P<")
                    i += 3
                    continue
                m = re.compile(r"\?([imsx]*)(?:-([imsx]*))?([:)])").match(pattern, i + 1)
                if not m and not body.startswith(("P<", "#", ":")):
                    raise LogsInsightsError(f"regex group (?{body[:3]} is not in the evaluated subset")
            elif rest.startswith("*"):
                raise LogsInsightsError("backtracking control verbs are not supported by Hyperscan")
            out.append(c)
            i += 1
            after_quantifier = False
            continue
        if c in "*+?":
            if after_quantifier and c == "+":
                raise LogsInsightsError("possessive quantifiers are not supported by Hyperscan")
            after_quantifier = not (after_quantifier and c == "?")
            out.append(c)
            i += 1
            continue
        if c == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(pattern, i)
            if m:
                out.append(m.group(0))
                i = m.end()
                after_quantifier = True
                continue
            out.append("\\{")  # PCRE reads a '{' that starts no quantifier as a literal
            i += 1
            after_quantifier = False
            continue
        out.append(c)
        after_quantifier = False
        i += 1
    if in_class:
        raise LogsInsightsError("unterminated character class in regex")
    return "".join(out)


def compile_regex(source: str) -> re.Pattern:
    """The pattern between the slashes of a regex literal, compiled with Python under Hyperscan's meaning."""
    try:
        return re.compile(translate_regex(source), re.ASCII)
    except re.error as e:
        raise LogsInsightsError(f"invalid regex /{source}/: {e}") from e


def decode_literal_regex(source: str) -> tuple[str, bool, bool, list]:
    """Read back a regex the backend wrote for a Sigma string value: (flags, anchored start, anchored end, parts).

    Parts are single characters, frozensets of alternative characters (`(?:É|é)`, `(?-i:I|ı)`), "*" (`.*`) and
    "?" (`.`).
    Anything that is not such a literal pattern is an error.
    """
    m = re.match(r"\(\?([a-z]+)\)", source)
    flags = m.group(1) if m else ""
    i = m.end() if m else 0
    parts: list = []
    start = end = False
    while i < len(source):
        c = source[i]
        if c == "\\":
            e = source[i + 1]
            if e == "A" and i == (m.end() if m else 0):
                start = True
                i += 2
                continue
            if e == "z" and i + 2 == len(source):
                end = True
                i += 2
                continue
            if e == "x":
                mm = re.compile(r"x\{([0-9a-f]+)\}|x([0-9a-f]{2})").match(source, i + 1)
                parts.append(chr(int(mm.group(1) or mm.group(2), 16)))
                i = mm.end()
                continue
            if e.isalnum() and e not in "nrtf":
                raise LogsInsightsError(f"\\{e} is not a literal escape")
            parts.append({"n": "\n", "r": "\r", "t": "\t", "f": "\f"}.get(e, e))
            i += 2
        elif source.startswith(".*", i):
            parts.append("*")
            i += 2
        elif c == ".":
            parts.append("?")
            i += 1
        elif source.startswith(("(?:", "(?-i:"), i):
            close = source.index(")", i)
            forms = source[source.index(":", i) + 1 : close].split("|")
            if any(len(f) != 1 for f in forms):
                raise LogsInsightsError("alternation of more than single characters is not a literal")
            parts.append(frozenset(forms))
            i = close + 1
        elif c in "^$*+?()[]{}|/":
            raise LogsInsightsError(f"regex metacharacter {c!r} unescaped: not a literal pattern")
        else:
            parts.append(c)
            i += 1
    return flags, start, end, parts


# ---------------------------------------------------------------------------------------------------------
# Evaluation (three-valued: True, False, None = unknown)


def _value(node, row: Row):
    if isinstance(node, Field):
        return row.values.get(node.name)
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Lower):
        value = row.values.get(node.operand.name)
        if value is None:
            return None
        text = _text(_no_bool(value, "tolower"))
        if any(not c.isascii() and c.lower() != c.upper() for c in text):
            raise LogsInsightsError(f"tolower({node.operand.name}): how it folds non-ASCII letters is not documented")
        return text.lower()
    raise LogsInsightsError(f"not a value: {node!r}")  # pragma: no cover


def _no_bool(v, where: str):
    if isinstance(v, bool):
        raise LogsInsightsError(f"{where}: a JSON boolean has no documented representation in Logs Insights")
    return v


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _number(v) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        return finite_number(v)
    return None


def _number_literal(node) -> bool:
    return isinstance(node, Lit) and isinstance(node.value, float)


def _equal(left, right, left_node, right_node) -> bool | None:
    if left is None or right is None:
        return None
    _no_bool(left, "comparison")
    _no_bool(right, "comparison")
    if _number_literal(left_node) or _number_literal(right_node):
        a, b = _number(left), _number(right)
        return a is not None and b is not None and a == b
    return _text(left) == _text(right)


def evaluate(node, row: Row) -> bool | None:
    if isinstance(node, And):
        return and3([evaluate(a, row) for a in node.args])
    if isinstance(node, Or):
        return or3([evaluate(a, row) for a in node.args])
    if isinstance(node, Not):
        return not3(evaluate(node.arg, row))
    if isinstance(node, Call):
        value = row.values.get(node.args[0].name)
        if node.name == "ispresent":
            return value is not None
        if value is None or not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        network = node.args[1]
        return address.version == network.version and address in network
    if isinstance(node, Compare):
        left, right = _value(node.left, row), _value(node.right, row)
        if node.op in ("=", "!="):
            eq = _equal(left, right, node.left, node.right)
            return eq if eq is None or node.op == "=" else not eq
        if left is None or right is None:
            return None
        a, b = _number(_no_bool(left, node.op)), _number(_no_bool(right, node.op))
        if a is None or b is None:
            return False
        return compare(node.op, a, b)
    if isinstance(node, Like):
        value = _value(node.operand, row)
        if value is None:
            return None
        text = _text(_no_bool(value, "like"))
        if isinstance(node.pattern, Lit):
            return node.pattern.value in text
        return node.pattern.compiled.search(text) is not None
    if isinstance(node, In):
        value = _value(node.operand, row)
        if value is None:
            return None
        results = [_equal(value, _value(v, row), node.operand, v) for v in node.values]
        return any(results)
    raise LogsInsightsError(f"cannot evaluate {node!r} as a condition")


# ---------------------------------------------------------------------------------------------------------
# Commands


def _run_command(command: Command, rows: list[Row]) -> list[Row]:
    if command.name == "filter":
        return [row for row in rows if evaluate(command.args[0], row) is True]
    if command.name == "fields":
        return rows  # display only: it chooses the columns shown, keeps every event, and later commands see all fields
    if command.name == "sort":
        target, order = command.args

        def key(row: Row):
            v = row.values.get(target.name)
            return (v is None, _number(v) if _number(v) is not None else _text(v) if v is not None else "")

        present = [r for r in rows if r.values.get(target.name) is not None]
        absent = [r for r in rows if r.values.get(target.name) is None]
        return sorted(present, key=key, reverse=order == "desc") + absent
    if command.name == "limit":
        return rows[: command.args[0]]
    if command.name == "stats":
        return _stats(command, rows)
    raise LogsInsightsError(f"command {command.name!r} not evaluated")  # pragma: no cover


def _group_key(item, row: Row):
    if isinstance(item, Bin):
        ts = row.values.get("@timestamp")
        if not isinstance(ts, int):
            raise LogsInsightsError("bin() needs @timestamp")
        return (ts // item.period_ms) * item.period_ms
    return row.values.get(item.name)


def _stats(command: Command, rows: list[Row]) -> list[Row]:
    aggs, groups = command.args
    buckets: dict[tuple, list[Row]] = {}
    for row in rows:
        buckets.setdefault(tuple(_group_key(g, row) for g in groups), []).append(row)
    out = []
    for key, members in buckets.items():
        values: dict[str, object] = {}
        for g, k in zip(groups, key):
            values[g.text if isinstance(g, Bin) else g.name] = k
        for agg in aggs:
            values[agg.alias] = _aggregate(agg, members)
        out.append(Row(values, tuple(i for m in members for i in m.events)))
    return out


def _aggregate(agg: Aggregate, rows: list[Row]):
    if agg.func == "count":
        return len(rows) if agg.arg == "*" else sum(1 for r in rows if r.values.get(agg.arg.name) is not None)
    values = [r.values.get(agg.arg.name) for r in rows]
    values = [v for v in values if v is not None]
    if agg.func == "count_distinct":
        return len({_text(_no_bool(v, "count_distinct")) for v in values})
    numbers = sorted(x for x in (_number(v) for v in values) if x is not None)
    if not numbers:
        return None
    if agg.func == "sum":
        return sum(numbers)
    if agg.func == "avg":
        return sum(numbers) / len(numbers)
    if agg.func == "pct":  # nearest rank: the smallest value with at least p percent of the values at or below it
        rank = max(1, math.ceil(agg.extra / 100 * len(numbers)))
        return numbers[rank - 1]
    raise LogsInsightsError(f"aggregation {agg.func} not evaluated")  # pragma: no cover


def run(query: str, records: list[dict]) -> list[Row]:
    return parse(query).run(records)


def matching(query: str, records: list[dict]) -> set[int]:
    return parse(query).matching(records)


def matches(query: str, record: dict) -> bool:
    return bool(matching(query, [record]))


def all_nodes(node) -> Iterable:
    """Every node of a filter expression, depth first."""
    yield node
    for child in node.args if isinstance(node, (And, Or, Call)) else ():
        if not isinstance(child, ipaddress._BaseNetwork):
            yield from all_nodes(child)
    if isinstance(node, Not):
        yield from all_nodes(node.arg)
