r"""An evaluator for the subset of Splunk SPL that the pack's Splunk target writes.

It parses the exact text of a saved search, after expanding the macros of the macros.conf shipped in the
app, and runs it over CloudTrail records, with Splunk's documented semantics. It is strict: anything
outside the subset, and anything whose meaning the Splunk documentation leaves open, is an error
(`SPLError`) rather than a guess, so a search the evaluator accepts means what the evaluator computes.

References (Splunk Enterprise 9.x documentation, help.splunk.com):

[BOOL]   Search Manual, "Boolean expressions with logical operators": AND is implied between terms; NOT
         applies to the term immediately after it; operators are upper case. Order of evaluation: the
         search command evaluates parentheses, NOT, then OR, then AND (OR binds tighter than AND); eval
         and where evaluate parentheses, NOT, AND, then OR.
[SEARCH] Search Reference, "search": field=value matches field values case-insensitively, field names
         are case-sensitive; `*` is a wildcard; `field!=value` needs the field to exist while
         `NOT field=value` also keeps events without the field; `field IN (v1, v2)` is an OR of the
         values, which may hold wildcards; CIDR values match IP addresses in the subnet. "Quotes and
         escaping characters": `\\`, `\"` and `\|` are expanded, inside quotation marks too; any other
         backslash sequence is passed on unaltered.
[BSLASH] Search Manual, "Backslashes": a backslash cannot escape the asterisk in search strings (so a
         search term cannot match a literal `*`; the evaluator refuses `\*` in a search term as undefined).
[REGEX]  Search Reference, "regex": keeps results whose field matches the PCRE expression (unanchored).
         Search Manual, "SPL and regular expressions": the expression is PCRE, quoted, after the
         search string's own backslash processing.
[WHERE]  Search Reference, "where" and "Comparison and Conditional functions": string comparisons are
         case-sensitive; an unquoted word is a field name, a double-quoted one a string; like() uses
         `%` and `_`; match() is an unanchored regex match. Comparisons with a null field are not true.
         "Text functions": lower(<str>) "Returns the string in lowercase" (null for a null field; how it
         lowers letters outside ASCII is not documented, so such a value is an error here). if(<predicate>,
         <true_value>, <false_value>): the second argument if the predicate is true, else the third.
[STATS]  Search Reference, "stats": one result per distinct combination of by-field values; events
         without a value for a by-field are left out; results are sorted by the by-fields.
[MULTI]  Search Reference, "multisearch": a generating command that runs two or more subsearches over the
         same events and returns all their results; each subsearch may hold only streaming commands
         (search, eval, where, fields, rex, regex), so an event matched by two subsearches is returned twice.
[EVAL]   Search Reference, "eval": `eval <field>=<expression>[, <field>=<expression>]...` sets each field in
         turn on every result; a null value leaves the field without a value.
[STREAM] Search Reference, "streamstats": statistics for each event from the events seen so far;
         `time_window` limits them to events within that span of the current one and needs the events in
         ascending or descending time order. Search results arrive newest first.
[BIN]    Search Reference, "bin": puts _time into buckets of `span` (aligned to the epoch; days in UTC here).
[TABLE]  Search Reference, "table" and "fields": keep the listed fields (comma- or space-separated).
[SORT]   Search Reference, "sort": ascending unless the field has `-`; numbers compare numerically; the
         first argument, if a number, is how many results to keep (0: all; none given: 10,000).
[MACRO]  Knowledge Manager Manual, "Use search macros in searches": `` `name` `` is replaced by the
         macro's definition before the search is parsed.
[CONF]   Admin Manual, "Configuration file structure": `[stanza]`, `key = value`, `#` comments; a
         backslash at the end of a line continues the value on the next line (the line break is kept).
[AWS]    Splunk Add-on for AWS, sourcetype aws:cloudtrail: JSON events, fields extracted with
         KV_MODE=json (nested keys joined with `.`, array elements under `name{}`), _time from eventTime.

Records are CloudTrail records (dicts). JSON null is treated as an absent field (the reference engine
and Sigma's `null` agree on that; Splunk's documentation does not say how KV_MODE=json keeps nulls).
Every result row carries the indexes of the records it was made of (`Row.sources`), which Splunk does not
show; `streamstats` also records the window each row was counted over (`Row.window`).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from .syntax import (
    And,
    Call,
    Compare,
    Field,
    Lit,
    Not,
    Or,
    TokenCursor,
    Wildcards,
    and3,
    compare,
    not3,
    or3,
    pcre_class_start,
    pcre_named_group,
)
from .values import finite_number, iso_datetime, leaves


class SPLError(Exception):
    """Syntax outside the supported subset, or with no documented meaning."""


# ---------------------------------------------------------------------------------------------------
# .conf files [CONF]
# ---------------------------------------------------------------------------------------------------


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    """Stanzas of a .conf file: {stanza: {key: value}}, in file order. Settings before any stanza go to
    `default`. A trailing backslash continues the value on the next line, keeping the line break."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = text.split("\n")  # not splitlines(): .conf files break lines at \n only
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        number = i + 1
        while line.endswith("\\"):
            i += 1
            if i >= len(lines):
                raise SPLError(f"line {number}: continuation at the end of the file")
            line = line[:-1] + "\n" + lines[i].rstrip("\r")
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise SPLError(f"line {number}: bad stanza header {stripped!r}")
            name = stripped[1:-1]
            if name in out:
                raise SPLError(f"line {number}: duplicate stanza [{name}]")
            current = out[name] = {}
            continue
        if "=" not in line:
            raise SPLError(f"line {number}: expected `key = value`, got {line!r}")
        key, value = line.split("=", 1)
        key = key.strip()
        if current is None:
            current = out.setdefault("default", {})
        if key in current:
            raise SPLError(f"line {number}: duplicate key {key!r}")
        current[key] = value.strip()
    return out


# ---------------------------------------------------------------------------------------------------
# events [AWS]
# ---------------------------------------------------------------------------------------------------


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return str(value)


def event_fields(record: dict) -> dict[str, tuple[str, ...]]:
    """Fields of one record as KV_MODE=json names them: `a.b.c`, arrays as `a{}` / `a{}.b`; multivalue."""
    out: dict[str, list[str]] = {}
    for name, value in leaves(record, lambda name, _: name + "{}"):
        out.setdefault(name, []).append(_scalar(value))
    return {k: tuple(v) for k, v in out.items()}


def event_time(record: dict) -> float:
    text = str(record["eventTime"])
    when = iso_datetime(text)
    if when is None:
        raise SPLError(f"eventTime {text!r} is not an ISO 8601 time")
    return when.timestamp()


@dataclass
class Row:
    fields: dict[str, tuple[str, ...]]
    sources: frozenset[int]  # indexes of the records this row is made of
    window: frozenset[int] | None = None  # streamstats: the records counted for this row

    def get(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, ())

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


def _number(text: str | None) -> float | None:
    return None if text is None else finite_number(text)


def _fmt_number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


# ---------------------------------------------------------------------------------------------------
# macros and pipeline splitting [MACRO]
# ---------------------------------------------------------------------------------------------------


def _scan_quoted(text: str, start: int) -> int:
    """Index just past the double-quoted string starting at `start` (backslash escapes skipped)."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SPLError(f"unbalanced quotation mark at offset {start}")


def expand_macros(search: str, macros: dict[str, str], _depth: int = 0) -> str:
    if _depth > 20:
        raise SPLError("macro expansion nests too deep")
    out: list[str] = []
    i = 0
    while i < len(search):
        c = search[i]
        if c == '"':
            end = _scan_quoted(search, i)
            if "`" in search[i:end]:
                # Whether Splunk expands a macro inside a quoted string is not documented.
                raise SPLError(f"backtick inside a quoted string at offset {i}: undefined")
            out.append(search[i:end])
            i = end
        elif c == "`":
            end = search.find("`", i + 1)
            if end < 0:
                raise SPLError(f"unclosed macro at offset {i}")
            name = search[i + 1 : end]
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise SPLError(f"unsupported macro call `{name}` (arguments are not supported)")
            if name not in macros:
                raise SPLError(f"macro `{name}` is not defined")
            out.append(expand_macros(macros[name], macros, _depth + 1))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_pipeline(search: str) -> list[str]:
    parts: list[str] = []
    start = i = 0
    while i < len(search):
        c = search[i]
        if c == '"':
            i = _scan_quoted(search, i)
            continue
        if c == "[":
            raise SPLError("subsearches are not supported")
        if c == "\\":
            raise SPLError(f"backslash outside a quoted string at offset {i}")
        if c == "|":
            parts.append(search[start:i])
            start = i + 1
        i += 1
    parts.append(search[start:])
    return parts


# ---------------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, OP, LPAREN, RPAREN, COMMA, SQUOTE
    text: str  # WORD/OP: as written; STRING: after backslash processing; SQUOTE: the field name
    raw: str = ""  # STRING: as written between the quotes

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text!r}"


_SPL_ESCAPES = {"\\": "\\", '"': '"', "|": "|"}


def unescape(raw: str, *, search_term: bool) -> str:
    """Backslash processing of a quoted string [SEARCH]. In a search term, `\\*` is undefined [BSLASH]."""
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            if i + 1 >= len(raw):
                raise SPLError("backslash at the end of a quoted string")
            nxt = raw[i + 1]
            if nxt in _SPL_ESCAPES:
                out.append(_SPL_ESCAPES[nxt])
            elif nxt == "*" and search_term:
                raise SPLError(r"`\*` in a search term: a backslash cannot escape the asterisk [BSLASH]")
            else:
                out.append(c + nxt)  # unknown sequence: passed on unaltered
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_OPS = ("!=", "<=", ">=", "==", "=", "<", ">")
_WORD_STOP = set(" \t\r\n()\",=!<>'")


def tokenize(text: str, *, search_terms: bool, eval_ops: bool = False) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            tokens.append(Token("LPAREN", c))
            i += 1
        elif c == ")":
            tokens.append(Token("RPAREN", c))
            i += 1
        elif c == ",":
            tokens.append(Token("COMMA", c))
            i += 1
        elif c == '"':
            end = _scan_quoted(text, i)
            raw = text[i + 1 : end - 1]
            tokens.append(Token("STRING", unescape(raw, search_term=search_terms), raw))
            i = end
        elif c == "'":
            if not eval_ops:
                raise SPLError(f"single quotation mark at offset {i}")
            end = text.find("'", i + 1)
            if end < 0:
                raise SPLError("unclosed single quotation mark")
            tokens.append(Token("SQUOTE", text[i + 1 : end]))
            i = end + 1
        elif c in "=!<>":
            for op in _OPS:
                if text.startswith(op, i):
                    if op == "==" and not eval_ops:
                        raise SPLError("`==` is not a search operator")
                    tokens.append(Token("OP", op))
                    i += len(op)
                    break
            else:
                raise SPLError(f"bad operator at offset {i}: {text[i:i+2]!r}")
        else:
            j = i
            while j < len(text) and text[j] not in _WORD_STOP:
                if text[j] in "\\`[]|":
                    raise SPLError(f"character {text[j]!r} in an unquoted word at offset {j}")
                j += 1
            tokens.append(Token("WORD", text[i:j]))
            i = j
    return tokens


class _Tokens(TokenCursor):
    error = SPLError
    input_name = "expression"

    def at_word(self, *words: str) -> bool:
        return self.at("WORD", *words)


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\{\})?(?:\.[A-Za-z0-9_$@-]+(?:\{\})?)*")


def _field_name(text: str) -> str:
    if not _FIELD.fullmatch(text):
        raise SPLError(f"unsupported field name {text!r}")
    return text


# ---------------------------------------------------------------------------------------------------
# search expressions [BOOL] [SEARCH]
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A search-term value after backslash processing; every `*` in it is a wildcard."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class Term:
    field: str
    op: str  # = != < <= > >= IN
    values: tuple[Value, ...]


@dataclass(frozen=True)
class MatchAll:  # the bare `*` term
    pass


SearchExpr = Union[Term, MatchAll, And, Or, Not]


def parse_search_expr(text: str, *, precedence: str = "search") -> SearchExpr:
    """The search command's expression. `precedence="eval"` reads the same operators in the order eval
    and where use (NOT, AND, then OR) [BOOL]: a search whose tree is the same under both orders does not
    depend on the order, so it keeps its meaning when moved into `where` or combined with other terms."""
    tokens = _Tokens(tokenize(text, search_terms=True))
    if tokens.done():
        raise SPLError("empty search")
    top = {"search": _search_and, "eval": _eval_order_or}[precedence]
    expr = top(tokens)
    if not tokens.done():
        raise SPLError(f"unexpected {tokens.peek()}")
    return expr


def _search_and(t: _Tokens) -> SearchExpr:
    # AND is the loosest binding operator of the search command, explicit or implied [BOOL].
    args = [_search_or(t)]
    while not t.done() and not t.at("RPAREN"):
        t.accept("WORD", "AND")
        args.append(_search_or(t))
    return And.of(args)


def _search_or(t: _Tokens) -> SearchExpr:
    args = [_search_not(t)]
    while t.accept("WORD", "OR"):
        args.append(_search_not(t))
    return Or.of(args)


def _eval_order_or(t: _Tokens) -> SearchExpr:
    # eval/where order: OR is the loosest, AND (explicit or implied) binds tighter [BOOL].
    args = [_eval_order_and(t)]
    while t.accept("WORD", "OR"):
        args.append(_eval_order_and(t))
    return Or.of(args)


def _eval_order_and(t: _Tokens) -> SearchExpr:
    args = [_search_not(t, _eval_order_or)]
    while not t.done() and not t.at("RPAREN") and not t.at_word("OR"):
        t.accept("WORD", "AND")  # explicit or implied
        args.append(_search_not(t, _eval_order_or))
    return And.of(args)


def _search_not(t: _Tokens, top=None) -> SearchExpr:
    if t.accept("WORD", "NOT"):
        return Not(_search_not(t, top))
    return _search_primary(t, top)


def _search_value(tok: Token) -> Value:
    if tok.kind == "STRING":
        return Value(tok.text, True)
    if tok.kind == "WORD" and tok.text not in ("AND", "OR", "NOT"):
        return Value(tok.text, False)
    raise SPLError(f"expected a value, got {tok}")


def _search_primary(t: _Tokens, top=None) -> SearchExpr:
    tok = t.next()
    if tok.kind == "LPAREN":
        expr = (top or _search_and)(t)
        t.expect("RPAREN")
        return expr
    if tok.kind == "WORD" and tok.text in ("AND", "OR", "XOR"):
        raise SPLError(f"misplaced {tok.text}")
    if tok.kind == "WORD" and tok.text == "*":
        return MatchAll()
    nxt = t.peek()
    if tok.kind == "WORD" and nxt is not None and nxt.kind == "OP":
        op = t.next().text
        return Term(_field_name(tok.text), op, (_search_value(t.next()),))
    if tok.kind == "WORD" and nxt is not None and nxt.kind == "WORD" and nxt.text == "IN":
        t.next()
        t.expect("LPAREN")
        values = [_search_value(t.next())]
        while t.accept("COMMA"):
            values.append(_search_value(t.next()))
        t.expect("RPAREN")
        return Term(_field_name(tok.text), "IN", tuple(values))
    raise SPLError(f"keyword search of the raw event ({tok}) is not supported")


#: Search terms: `*` is the only wildcard, and a backslash cannot escape it [BSLASH]; values match
#: case-insensitively [SEARCH].
SEARCH_WILDCARDS = Wildcards(many="*")


_CIDR = re.compile(r"[0-9.]+/\d{1,2}|[0-9A-Fa-f:.]+/\d{1,3}")


def _value_matches(pattern: Value, value: str) -> bool:
    text = pattern.text
    if _CIDR.fullmatch(text) and "*" not in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                return ipaddress.ip_address(value) in network
            except ValueError:
                return False
    return _search_regex(text).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _search_regex(text: str) -> re.Pattern:
    """A search term's value as a compiled regular expression (compiled once: the replays run a search thousands
    of times)."""
    return SEARCH_WILDCARDS.regex(text, re.IGNORECASE | re.DOTALL)


def _compare(op: str, left: str, right: str) -> bool:
    a, b = _number(left), _number(right)
    if b is None:
        raise SPLError(f"comparison {op} with a non-numeric value {right!r} is not supported")
    if a is None:
        return False
    return compare(op, a, b)


def eval_search(expr: SearchExpr, row: Row) -> bool:
    if isinstance(expr, MatchAll):
        return True
    if isinstance(expr, And):
        return all(eval_search(a, row) for a in expr.args)
    if isinstance(expr, Or):
        return any(eval_search(a, row) for a in expr.args)
    if isinstance(expr, Not):
        return not eval_search(expr.arg, row)
    assert isinstance(expr, Term)
    values = row.get(expr.field)
    if expr.op in ("=", "IN"):
        return any(_value_matches(p, v) for p in expr.values for v in values)
    if expr.op == "!=":
        return bool(values) and not any(_value_matches(expr.values[0], v) for v in values)
    if expr.op in ("<", "<=", ">", ">="):
        if "*" in expr.values[0].text:
            raise SPLError("wildcard in a comparison")
        return any(_compare(expr.op, v, expr.values[0].text) for v in values)
    raise SPLError(f"operator {expr.op}")


# ---------------------------------------------------------------------------------------------------
# eval expressions (where) [WHERE]: Field, Lit (str or float), Call, Compare, Not, And, Or from .syntax
# ---------------------------------------------------------------------------------------------------


def parse_eval_expr(text: str):
    tokens = _Tokens(tokenize(text, search_terms=False, eval_ops=True))
    expr = _e_or(tokens)
    if not tokens.done():
        raise SPLError(f"unexpected {tokens.peek()}")
    return expr


def _e_or(t):
    args = [_e_and(t)]
    while t.accept("WORD", "OR"):
        args.append(_e_and(t))
    if t.at_word("XOR"):
        raise SPLError("XOR is not supported")
    return Or.of(args)


def _e_and(t):
    args = [_e_not(t)]
    while t.accept("WORD", "AND"):
        args.append(_e_not(t))
    return And.of(args)


def _e_not(t):
    if t.accept("WORD", "NOT"):
        return Not(_e_not(t))
    return _e_cmp(t)


def _e_cmp(t):
    left = _e_atom(t)
    if t.at("OP"):
        op = t.next().text
        return Compare("=" if op == "==" else op, left, _e_atom(t))
    return left


#: Arity of each eval function (None: one or more). "Comparison and Conditional functions": null() returns NULL,
#: coalesce(<values>) the first that is not NULL.
_FUNCS = {"like": 2, "match": 2, "isnull": 1, "isnotnull": 1, "lower": 1, "if": 3, "null": 0, "coalesce": None}


def _e_atom(t):
    tok = t.next()
    if tok.kind == "LPAREN":
        expr = _e_or(t)
        t.expect("RPAREN")
        return expr
    if tok.kind == "STRING":
        return Lit(tok.text)
    if tok.kind == "SQUOTE":
        return Field(_field_name(tok.text))
    if tok.kind == "WORD":
        if t.at("LPAREN"):
            if tok.text not in _FUNCS:
                raise SPLError(f"eval function {tok.text}() is not supported")
            t.next()
            args = []
            if not t.accept("RPAREN"):
                args.append(_e_or(t))
                while t.accept("COMMA"):
                    args.append(_e_or(t))
                t.expect("RPAREN")
            if len(args) != _FUNCS[tok.text] if _FUNCS[tok.text] is not None else not args:
                raise SPLError(f"{tok.text}() takes {_FUNCS[tok.text] or 'one or more'} arguments")
            return Call(tok.text, tuple(args))
        if re.fullmatch(r"-?\d+(\.\d+)?", tok.text):
            return Lit(float(tok.text))
        if tok.text in ("AND", "OR", "NOT", "XOR"):
            raise SPLError(f"misplaced {tok.text}")
        return Field(_field_name(tok.text))
    raise SPLError(f"unexpected {tok}")


#: like(): `%` any characters, `_` one character, no escape [WHERE].
LIKE_WILDCARDS = Wildcards(many="%", one="_")


def eval_expr(expr, row: Row):
    """Three-valued: True / False / None (null)."""
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, Field):
        return row.first(expr.name)
    if isinstance(expr, Not):
        return not3(_logical(eval_expr(expr.arg, row)))
    if isinstance(expr, And):
        return and3([_logical(eval_expr(a, row)) for a in expr.args])
    if isinstance(expr, Or):
        return or3([_logical(eval_expr(a, row)) for a in expr.args])
    if isinstance(expr, Call):
        args = [eval_expr(a, row) for a in expr.args]
        if expr.name == "null":
            return None
        if expr.name == "coalesce":
            return next((a for a in args if a is not None), None)
        if expr.name == "isnull":
            return args[0] is None
        if expr.name == "isnotnull":
            return args[0] is not None
        if expr.name == "if":
            return args[1] if _logical(args[0]) is True else args[2]
        if expr.name == "lower":
            if args[0] is None:
                return None
            text = _as_text(args[0])
            if any(not c.isascii() and c.lower() != c.upper() for c in text):
                raise SPLError(f"lower({text!r}): how Splunk lowers letters outside ASCII is not documented")
            return text.lower()
        if args[0] is None or args[1] is None:
            return None
        if expr.name == "like":
            return LIKE_WILDCARDS.regex(str(args[1]), re.DOTALL).fullmatch(_as_text(args[0])) is not None
        return pcre(str(args[1])).search(_as_text(args[0])) is not None  # match()
    assert isinstance(expr, Compare)
    a, b = eval_expr(expr.left, row), eval_expr(expr.right, row)
    if a is None or b is None:
        return None
    na = a if isinstance(a, float) else _number(a)
    nb = b if isinstance(b, float) else _number(b)
    if na is not None and nb is not None:
        x, y = na, nb
    else:
        x, y = _as_text(a), _as_text(b)  # string comparison, case-sensitive [WHERE]
    return compare(expr.op, x, y)


def _as_text(v) -> str:
    return _fmt_number(v) if isinstance(v, float) else str(v)


def _truth(v) -> bool:
    if isinstance(v, bool):
        return v
    raise SPLError(f"{v!r} is not a Boolean")


def _logical(v) -> bool | None:
    """An operand of AND, OR, NOT: a Boolean, or null."""
    return None if v is None else _truth(v)


# ---------------------------------------------------------------------------------------------------
# regular expressions [REGEX]
# ---------------------------------------------------------------------------------------------------

# Escapes whose PCRE meaning Python's `re` does not share (or lacks): \z \Z \h \v \R \X \G \K \Q \E \p
# \N \C \g \k, and the shorthand classes \d \w \s \b, which are ASCII in PCRE but Unicode in Python.
_PCRE_ONLY_ESCAPES = set("zZhHvVRXGKQEpPNCgkdDwWsSbB")


def pcre(pattern: str) -> re.Pattern:
    """A PCRE pattern of the subset whose meaning Python's `re` shares; anything else is refused."""
    out = []
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if not nxt:
                raise SPLError(f"regular expression {pattern!r} ends in a backslash")
            if nxt in _PCRE_ONLY_ESCAPES or pattern.startswith("x{", i + 1):
                raise SPLError(f"regular expression {pattern!r}: \\{nxt} is outside the supported PCRE subset")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            start, i = pcre_class_start(pattern, i)
            out.append(start)
            continue
        if pcre_named_group(pattern, i):
            out.append("(?P<")
            i += 3
            continue
        if re.match(r"\(\?([|R&+]|P>|-?\d)", pattern[i:]) or pattern.startswith("{,", i):
            raise SPLError(f"regular expression {pattern!r} uses PCRE syntax outside the supported subset")
        if c in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise SPLError(f"regular expression {pattern!r}: possessive quantifiers are not supported")
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as e:
        raise SPLError(f"bad regular expression {pattern!r}: {e}") from e


# ---------------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------------


@dataclass
class Command:
    name: str
    text: str
    run: Callable[[list[Row]], list[Row]] = field(repr=False)
    node: object = None  # the parsed expression or arguments, for inspection


def _args(text: str) -> list[Token]:
    return tokenize(text, search_terms=False)


def _span_seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days)", text)
    if not m:
        raise SPLError(f"unsupported span {text!r}")
    unit = m.group(2)[0]
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _cmd_search(text: str) -> Command:
    expr = parse_search_expr(text)
    return Command("search", text, lambda rows: [r for r in rows if eval_search(expr, r)], expr)


def _cmd_where(text: str) -> Command:
    expr = parse_eval_expr(text)
    return Command("where", text, lambda rows: [r for r in rows if eval_expr(expr, r) is True], expr)


@dataclass(frozen=True)
class RegexArgs:
    field: str
    pattern: str  # after the search string's backslash processing


def _cmd_regex(text: str) -> Command:
    m = re.fullmatch(r"\s*([^\s=!\"]+)(!?=)(\".*\")\s*", text, re.DOTALL)
    if not m:
        raise SPLError(f"unsupported regex arguments {text!r} (expected field=\"regex\")")
    if m.group(2) == "!=":
        raise SPLError("regex field!= is not supported: its result for events without the field is undocumented")
    tokens = tokenize(m.group(3), search_terms=False)
    if len(tokens) != 1 or tokens[0].kind != "STRING":
        raise SPLError(f"bad regex string {m.group(3)!r}")
    name = _field_name(m.group(1))
    if name == "_raw":
        raise SPLError("regex on _raw is not supported")
    compiled = pcre(tokens[0].text)

    def run(rows):
        return [r for r in rows if any(compiled.search(v) for v in r.get(name))]

    return Command("regex", text, run, RegexArgs(name, tokens[0].text))


def _field_list(text: str) -> list[str]:
    names = [n for n in re.split(r"[\s,]+", text.strip()) if n]
    if not names:
        raise SPLError("empty field list")
    return [_field_name(n) for n in names]


def _cmd_table(text: str) -> Command:
    names = _field_list(text)

    def run(rows):
        return [Row({n: r.fields[n] for n in names if n in r.fields}, r.sources, r.window) for r in rows]

    return Command("table", text, run, names)


def _cmd_fields(text: str) -> Command:
    body = text.strip()
    remove = body.startswith("-")
    if body[:1] in "+-":
        body = body[1:]
    names = _field_list(body)

    def run(rows):
        if remove:
            return [Row({k: v for k, v in r.fields.items() if k not in names}, r.sources, r.window) for r in rows]
        return [Row({n: r.fields[n] for n in names if n in r.fields}, r.sources, r.window) for r in rows]

    return Command("fields", text, run, (remove, names))


@dataclass(frozen=True)
class Aggregation:
    function: str  # count, dc, min, max, values
    field: str | None
    name: str


def _aggregations(tokens: _Tokens) -> list[Aggregation]:
    aggs = []
    while not tokens.done() and not tokens.at_word("by", "BY"):
        tok = tokens.next()
        if tok.kind == "COMMA":
            continue
        if tok.kind != "WORD" or tok.text not in ("count", "dc", "min", "max", "values"):
            raise SPLError(f"unsupported statistic {tok}")
        func, arg = tok.text, None
        if tokens.accept("LPAREN"):
            arg = _field_name(tokens.expect("WORD").text)
            tokens.expect("RPAREN")
        if func != "count" and arg is None:
            raise SPLError(f"{func} needs a field")
        name = f"{func}({arg})" if arg else func
        if tokens.at_word("as", "AS"):
            tokens.next()
            name = _field_name(tokens.expect("WORD").text)
        aggs.append(Aggregation(func, arg, name))
    if not aggs:
        raise SPLError("no statistic")
    return aggs


def _by_fields(tokens: _Tokens) -> list[str]:
    if tokens.done():
        return []
    tokens.next()  # by
    names = []
    while not tokens.done():
        tok = tokens.next()
        if tok.kind == "COMMA":
            continue
        if tok.kind != "WORD":
            raise SPLError(f"unexpected {tok} in the by-clause")
        names.append(_field_name(tok.text))
    if not names:
        raise SPLError("empty by-clause")
    return names


def _aggregate(agg: Aggregation, rows: list[Row]) -> tuple[str, ...]:
    if agg.function == "count":
        if agg.field is None:
            return (str(len(rows)),)
        return (str(sum(len(r.get(agg.field)) for r in rows)),)
    values = [v for r in rows for v in r.get(agg.field)]
    if agg.function == "dc":
        return (str(len(set(values))),)
    if agg.function == "values":
        return tuple(sorted(set(values)))
    if not values:
        return ()
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        pick = min(numbers) if agg.function == "min" else max(numbers)
        return (_fmt_number(pick),)
    return ((min if agg.function == "min" else max)(values),)


def _group_key(row: Row, by: list[str]) -> tuple | None:
    key = []
    for name in by:
        values = row.get(name)
        if not values:
            return None  # no value for a by-field: left out [STATS]
        if len(values) > 1:
            raise SPLError(f"multivalue by-field {name} is not supported")
        key.append(values[0])
    return tuple(key)


def _sort_key(key: tuple) -> tuple:
    return tuple((0, _number(v), "") if _number(v) is not None else (1, 0.0, v) for v in key)


def _cmd_stats(text: str) -> Command:
    tokens = _Tokens(_args(text))
    aggs = _aggregations(tokens)
    by = _by_fields(tokens)

    def run(rows):
        groups: dict[tuple, list[Row]] = {}
        for r in rows:
            key = _group_key(r, by)
            if key is not None:
                groups.setdefault(key, []).append(r)
        if not by:
            groups = {(): list(rows)}
        out = []
        for key in sorted(groups, key=_sort_key):
            members = groups[key]
            fields = dict(zip(by, ((v,) for v in key)))
            for agg in aggs:
                value = _aggregate(agg, members)
                if value:
                    fields[agg.name] = value
            out.append(Row(fields, frozenset().union(*(m.sources for m in members))))
        return out

    return Command("stats", text, run, (aggs, by))


def _cmd_streamstats(text: str) -> Command:
    tokens = _Tokens(_args(text))
    window_seconds = None
    while tokens.at("WORD") and tokens.at("OP", offset=1):
        option = tokens.next().text
        tokens.expect("OP", "=")
        value = tokens.expect("WORD").text
        if option == "time_window":
            window_seconds = _span_seconds(value)
        else:
            raise SPLError(f"streamstats option {option} is not supported")
    aggs = _aggregations(tokens)
    if any(a.function not in ("count", "dc", "min") for a in aggs):
        raise SPLError("streamstats supports count, dc and min")
    by = _by_fields(tokens)

    def run(rows):
        if window_seconds is not None:
            times = [_number(r.first("_time")) for r in rows]
            if any(t is None for t in times):
                raise SPLError("time_window needs _time on every result")
            ascending = all(a <= b for a, b in zip(times, times[1:]))
            descending = all(a >= b for a, b in zip(times, times[1:]))
            if not (ascending or descending):
                raise SPLError("time_window needs results in time order [STREAM]")
        seen: dict[tuple, list[Row]] = {}
        out = []
        for r in rows:
            key = _group_key(r, by)
            if key is None:
                out.append(r)  # no by-field value: nothing to count it with
                continue
            history = seen.setdefault(key, [])
            history.append(r)
            members = history
            if window_seconds is not None:
                now = _number(r.first("_time"))
                # Events within time_window of the current one. Whether an event exactly time_window
                # away is counted is not documented; it is here, as in Sigma's reference engine.
                members = [m for m in history if abs(now - _number(m.first("_time"))) <= window_seconds]
            fields = dict(r.fields)
            for agg in aggs:
                fields[agg.name] = _aggregate(agg, members)
            # Row.window: the first time_window a row was counted over (a correlation's; later passes keep it)
            window = r.window
            if window is None and window_seconds is not None:
                window = frozenset().union(*(m.sources for m in members))
            out.append(Row(fields, r.sources, window))
        return out

    return Command("streamstats", text, run, (window_seconds, aggs, by))


def _cmd_bin(text: str) -> Command:
    tokens = _args(text)
    span, target = None, None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "WORD" and i + 1 < len(tokens) and tokens[i + 1].kind == "OP":
            if tok.text != "span" or tokens[i + 1].text != "=" or i + 2 >= len(tokens):
                raise SPLError(f"bin option {tok.text} is not supported")
            span = _span_seconds(tokens[i + 2].text)
            i += 3
        elif tok.kind == "WORD" and target is None:
            target = _field_name(tok.text)
            i += 1
        else:
            raise SPLError(f"unexpected {tok} in bin")
    if span is None or target is None:
        raise SPLError("bin needs a field and span=")

    def run(rows):
        out = []
        for r in rows:
            values = r.get(target)
            numbers = [_number(v) for v in values]
            if not values or any(n is None for n in numbers):
                out.append(r)
                continue
            fields = dict(r.fields)
            fields[target] = tuple(_fmt_number(math.floor(n / span) * span) for n in numbers)
            out.append(Row(fields, r.sources, r.window))
        return out

    return Command("bin", text, run, (target, span))


def _cmd_sort(text: str) -> Command:
    words = text.split()
    limit = 10000  # without a count, sort keeps the first 10,000 results [SORT]
    if words and words[0].isdigit():
        limit = int(words.pop(0)) or None  # 0: all results
    if not words:
        raise SPLError("sort needs a field")
    keys = []
    for word in ",".join(words).split(","):
        if not word:
            continue
        descending = word.startswith("-")
        name = _field_name(word.lstrip("+-"))
        keys.append((name, descending))

    def run(rows):
        out = list(rows)
        for name, descending in reversed(keys):  # stable sorts, last key first
            values = [r.first(name) for r in out]
            numeric = all(_number(v) is not None for v in values if v is not None)
            missing = [r for r, v in zip(out, values) if v is None]
            present = [r for r, v in zip(out, values) if v is not None]
            present.sort(key=lambda r: _number(r.first(name)) if numeric else r.first(name), reverse=descending)
            out = present + missing
        return out[:limit] if limit else out

    return Command("sort", text, run, keys)


def _cmd_eval(text: str) -> Command:
    """eval <field>=<expression>, ... [EVAL]: assignments in order, each seeing the ones before it."""
    tokens = _Tokens(tokenize(text, search_terms=False, eval_ops=True))
    assignments = []
    while True:
        name = _field_name(tokens.expect("WORD").text)
        tokens.expect("OP", "=")
        assignments.append((name, _e_or(tokens)))
        if not tokens.accept("COMMA"):
            break
    if not tokens.done():
        raise SPLError(f"unexpected {tokens.peek()} in eval")

    def run(rows):
        out = []
        for r in rows:
            fields = dict(r.fields)
            for name, expr in assignments:
                value = eval_expr(expr, Row(fields, r.sources))
                if isinstance(value, bool):
                    raise SPLError(f"eval {name}=: a Boolean result cannot be stored in a field")
                if value is None:
                    fields.pop(name, None)
                else:
                    fields[name] = (_as_text(value),)
            out.append(Row(fields, r.sources, r.window))
        return out

    return Command("eval", text, run, assignments)


#: Commands a multisearch subsearch may hold [MULTI].
_STREAMING = frozenset({"search", "where", "regex", "eval", "fields"})


def _subsearches(text: str, i: int) -> tuple[list[str], str]:
    """The `[...]` subsearches from offset `i` (quoted strings skipped) and the text after the last one."""
    found = []
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text) or text[i] != "[":
            return found, text[i:]
        j = i + 1
        while True:
            if j >= len(text):
                raise SPLError(f"unclosed subsearch at offset {i}")
            c = text[j]
            if c == '"':
                j = _scan_quoted(text, j)
                continue
            if c == "[":
                raise SPLError("nested subsearches are not supported")
            if c == "]":
                break
            j += 1
        found.append(text[i + 1 : j])
        i = j + 1


def _cmd_multisearch(subsearches: list[str]) -> Command:
    if len(subsearches) < 2:
        raise SPLError("multisearch needs at least two subsearches [MULTI]")
    pipelines = []
    for sub in subsearches:
        if not re.match(r"\s*search\s", sub):
            raise SPLError(f"a multisearch subsearch must start with `search`: {sub.strip()[:30]!r}")
        commands = parse_pipeline(sub)
        if any(c.name not in _STREAMING for c in commands):
            raise SPLError("a multisearch subsearch may hold only streaming commands [MULTI]")
        pipelines.append(commands)

    def run(rows):
        out = []
        for commands in pipelines:
            results = rows
            for command in commands:
                results = command.run(results)
            out.extend(results)
        return out

    return Command("multisearch", "", run, pipelines)


_COMMANDS = {
    "eval": _cmd_eval,
    "sort": _cmd_sort,
    "search": _cmd_search,
    "where": _cmd_where,
    "regex": _cmd_regex,
    "table": _cmd_table,
    "fields": _cmd_fields,
    "stats": _cmd_stats,
    "streamstats": _cmd_streamstats,
    "bin": _cmd_bin,
    "bucket": _cmd_bin,
}


def parse_pipeline(search: str) -> list[Command]:
    """Commands of an (already macro-expanded) search; the first is the implied `search` [SEARCH], or a
    `| multisearch [...] [...]` [MULTI]."""
    generating = re.match(r"\s*\|\s*multisearch(?=[\s\[])", search)
    if generating:
        subsearches, rest = _subsearches(search, generating.end())
        commands = [_cmd_multisearch(subsearches)]
        if rest.strip():
            if not rest.startswith("|"):
                raise SPLError(f"unexpected {rest.strip()[:30]!r} after the subsearches")
            for segment in split_pipeline(rest[1:]):
                m = re.match(r"\s*([a-z]+)(\s+|$)", segment)
                if not m or m.group(1) not in _COMMANDS:
                    raise SPLError(f"unsupported command {segment.strip()[:30]!r}")
                commands.append(_COMMANDS[m.group(1)](segment[m.end() :]))
        return commands
    segments = split_pipeline(search)
    if not segments[0].strip():
        raise SPLError("a search starting with a generating command (`| ...`) is not supported")
    commands = []
    for n, segment in enumerate(segments):
        if n == 0:
            body = segment.strip()
            if re.match(r"search\s", body):
                body = body[len("search") :]
            commands.append(_cmd_search(body))
            continue
        m = re.match(r"\s*([a-z]+)(\s+|$)", segment)
        if not m or m.group(1) not in _COMMANDS:
            raise SPLError(f"unsupported command {segment.strip()[:30]!r}")
        commands.append(_COMMANDS[m.group(1)](segment[m.end() :]))
    return commands


# ---------------------------------------------------------------------------------------------------
# the evaluator
# ---------------------------------------------------------------------------------------------------


class SplunkEvaluator:
    """Run saved searches over CloudTrail records, macros expanded from a macros.conf."""

    def __init__(self, macros: dict[str, str], index: str = "aws", sourcetype: str = "aws:cloudtrail"):
        self.macros = dict(macros)
        self.index, self.sourcetype = index, sourcetype

    @classmethod
    def from_macros_conf(cls, text: str, **kwargs) -> "SplunkEvaluator":
        macros = {}
        for name, settings in parse_conf(text).items():
            if name == "default":
                continue
            if settings.get("iseval", "0") not in ("0", "false"):
                raise SPLError(f"eval-based macro {name} is not supported")
            if "args" in settings:
                raise SPLError(f"macro {name} takes arguments: not supported")
            macros[name] = settings["definition"]
        return cls(macros, **kwargs)

    def parse(self, search: str) -> list[Command]:
        return parse_pipeline(expand_macros(search, self.macros))

    def events(self, records: Iterable[dict]) -> list[Row]:
        rows = []
        for i, record in enumerate(records):
            fields = event_fields(record)
            fields["_time"] = (_fmt_number(event_time(record)),)
            fields["index"] = (self.index,)
            fields["sourcetype"] = (self.sourcetype,)
            rows.append(Row(fields, frozenset({i})))
        return rows

    def run(self, search: str, records: list[dict]) -> list[Row]:
        commands = self.parse(search)
        rows = self.events(records)
        rows = commands[0].run(rows)
        # Events come out of the index newest first [STREAM]; ties keep the records' order.
        rows.sort(key=lambda r: -_number(r.first("_time")))
        for command in commands[1:]:
            rows = command.run(rows)
        return rows
