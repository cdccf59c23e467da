"""Full parenthesization of the search expression pysigma-backend-splunk writes: one of the two documented
exceptions to "the CloudTrail pipelines map and refuse, they do not rewrite text" (the other: the time window of
ES|QL correlations, `elastic_correlations.py`).

Why text. How the backend groups and joins a condition is set by class attributes of `SplunkBackend`
(`precedence`, `and_token`, `group_expression`: pySigma's `TextQueryBackend` reads them when it writes each
node). A pipeline cannot change them, and `sigma convert -t splunk -p splunk_cloudtrail` instantiates the
upstream class, so a subclass would make the pack's build and sigma-cli write different searches. Nor can a
transformation of the condition tree get there: with `precedence = (NOT, OR, AND)` the backend never puts an
OR inside AND in parentheses, and `and_token = " "` never writes AND. So the pipeline reads the backend's
expression back, exactly (anything outside the subset below is a GroupingError, never a guess), and writes it
again; the hook that would remove this module is reported in docs/upstream.md ("Hooks the CloudTrail pipelines
need"), and tests/splunk/test_splunk_grouping.py pins the backend's tokens it reads.

The backend writes Splunk's search command syntax: terms joined by juxtaposition (implicit AND) and
`OR`, `NOT` before a term, parentheses only where its precedence table (NOT, OR, AND: OR binds tighter
than AND, as in the search command, Search Manual "Boolean expressions with logical operators") needs
them. So the access-key rule comes out as

    eventSource="iam.amazonaws.com" eventName="DeleteAccessKey" OR (eventName="UpdateAccessKey" requestParameters.status="Inactive")

which means `a AND (b OR (c AND d))` only under the search command's order; `where` and `eval` bind
AND before OR and would read `(a AND b) OR (c AND d)`. `group_search` rewrites the expression so that
every AND and OR group is in parentheses and every AND is written out:

    (eventSource="iam.amazonaws.com" AND (eventName="DeleteAccessKey" OR (eventName="UpdateAccessKey" AND requestParameters.status="Inactive")))

which reads the same under either order, and after a macro or before an appended filter.

The reader is exact for the subset the backend emits (`TextQueryBackend` with the Splunk backend's
tokens: `str_quote = '"'`, `escape_char = "\\"`, `or_token = "OR"`, `and_token = " "`, `not_token =
"NOT"`, `group_expression = "({expr})"`, `field_in_list_expression = "{field} {op} ({list})"`,
`list_separator = ", "`, `compare_op_expression = "{field}{operator}{value}"`, `field_exists_expression
= "{field}=*"`, `deferred_only_query = "*"`); anything else is an error rather than a guess. Every term
(`field="value"`, `field IN ("a", "b")`, `field>=1`, `field=*`) is copied byte for byte from the
backend's text: the backend's escaping of `"` and `\\` is never re-done, so no value can leave its
string. The search expression ends at the first `|` outside a quoted string; what follows (`| regex`,
`| where`, `| table`) is kept as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from sigma.exceptions import SigmaTransformationError

#: Field names the backend writes bare (its `field_quote_pattern`, ^[\w.]+$); other names it would quote,
#: which this reader refuses (the pipeline only lets CloudTrail field paths through).
_FIELD = re.compile(r"[\w.]+")
#: An unquoted value: numbers, booleans, the `*` of `field=*`.
_BARE_VALUE = re.compile(r"[\w.*:+-]+")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")


class GroupingError(SigmaTransformationError):
    """The backend's text is outside the subset this reader knows."""


@dataclass(frozen=True)
class _Token:
    kind: str  # LPAREN, RPAREN, COMMA, OP, STRING, WORD
    text: str  # exactly as written
    start: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \t\n":
            i += 1
        elif c in "(),":
            out.append(_Token({"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[c], c, i))
            i += 1
        elif c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                raise GroupingError(f"unterminated quoted string at offset {i} of {text!r}")
            out.append(_Token("STRING", text[i : j + 1], i))
            i = j + 1
        elif c in "!=<>":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise GroupingError(f"unknown operator at offset {i} of {text!r}")
            out.append(_Token("OP", op, i))
            i += len(op)
        else:
            m = _BARE_VALUE.match(text, i)
            if not m:
                raise GroupingError(f"unexpected character {c!r} at offset {i} of {text!r}")
            out.append(_Token("WORD", m.group(), i))
            i = m.end()
    return out


@dataclass(frozen=True)
class Term:
    text: str  # the term as the backend wrote it


@dataclass(frozen=True)
class And:
    args: tuple


@dataclass(frozen=True)
class Or:
    args: tuple


@dataclass(frozen=True)
class Not:
    arg: object


Expr = Union[Term, And, Or, Not]


class _Reader:
    """Recursive descent with the backend's precedence: NOT, then OR, then (implicit) AND."""

    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, _tokens(text), 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> _Token:
        t = self.peek()
        if t is None or (kind and t.kind != kind) or (text and t.text != text):
            where = f"offset {t.start}" if t else "the end"
            raise GroupingError(f"expected {text or kind} at {where} of {self.text!r}")
        self.i += 1
        return t

    def at_word(self, word: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "WORD" and t.text == word

    def expression(self) -> Expr:
        args = [self.disjunction()]
        while self.peek() is not None and self.peek().kind != "RPAREN":
            if self.at_word("AND"):  # written out already (idempotence)
                self.take()
            args.append(self.disjunction())
        return args[0] if len(args) == 1 else And(tuple(args))

    def disjunction(self) -> Expr:
        args = [self.negation()]
        while self.at_word("OR"):
            self.take()
            args.append(self.negation())
        return args[0] if len(args) == 1 else Or(tuple(args))

    def negation(self) -> Expr:
        if self.at_word("NOT"):
            self.take()
            return Not(self.negation())
        return self.primary()

    def primary(self) -> Expr:
        t = self.take()
        if t.kind == "LPAREN":
            inner = self.expression()
            self.take("RPAREN")
            return inner
        if t.kind == "WORD" and t.text == "*":
            return Term("*")
        if t.kind != "WORD" or t.text in ("AND", "OR", "NOT") or not _FIELD.fullmatch(t.text):
            raise GroupingError(f"expected a field name at offset {t.start} of {self.text!r}")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "OP":
            self.take()
            end = self._value()
        elif self.at_word("IN"):
            self.take()
            self.take("LPAREN")
            self._value()
            while self.peek() is not None and self.peek().kind == "COMMA":
                self.take()
                self._value()
            end = self.take("RPAREN")
        else:
            raise GroupingError(f"expected an operator or IN after {t.text!r} in {self.text!r}")
        return Term(self.text[t.start : end.start + len(end.text)])

    def _value(self) -> _Token:
        t = self.take()
        if t.kind == "STRING" or (t.kind == "WORD" and t.text not in ("AND", "OR", "NOT", "IN")):
            return t
        raise GroupingError(f"expected a value at offset {t.start} of {self.text!r}")


def parse(text: str) -> Expr:
    """The backend's search expression (no `|` commands) as a tree."""
    reader = _Reader(text)
    if reader.peek() is None:
        raise GroupingError("empty search expression")
    expr = reader.expression()
    if reader.peek() is not None:
        raise GroupingError(f"unexpected {reader.peek().text!r} at offset {reader.peek().start} of {text!r}")
    return expr


def write(expr: Expr) -> str:
    """Every AND and OR group in parentheses, AND written out; terms as the backend wrote them."""
    if isinstance(expr, Term):
        return expr.text
    if isinstance(expr, Not):
        return f"NOT {write(expr.arg)}"
    joiner = " AND " if isinstance(expr, And) else " OR "
    return "(" + joiner.join(write(a) for a in expr.args) + ")"


def split_commands(query: str) -> tuple[str, str]:
    """(search expression, the rest from the first `|` outside a quoted string, or "")."""
    i = 0
    while i < len(query):
        c = query[i]
        if c == '"':
            i += 1
            while i < len(query) and query[i] != '"':
                i += 2 if query[i] == "\\" else 1
            if i >= len(query):
                raise GroupingError(f"unterminated quoted string in {query!r}")
        elif c == "|":
            return query[:i], query[i:]
        i += 1
    return query, ""


def group_search(query: str) -> str:
    """The query with its search expression fully parenthesized; its `|` commands unchanged.

    The whitespace between the expression and its first command (the backend's "\\n| " before a
    deferred `regex`/`where`, " | " before `table`) is kept.
    """
    head, tail = split_commands(query)
    expression = head.rstrip()
    return write(parse(expression)) + head[len(expression) :] + tail
