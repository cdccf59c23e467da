r"""An evaluator for CloudWatch Logs filter patterns over JSON log events (the JSON subset metric filters use).

It parses the exact pattern text and decides whether a CloudTrail record (a dict, the JSON event) matches. It is
strict: text patterns, space-delimited patterns, `%regex%` terms and anything else outside the JSON subset are
errors (`FilterPatternError`).

References (Amazon CloudWatch Logs User Guide, "Filter pattern syntax for metric filters, subscription filters,
filter log events, and Live Tail" - FilterAndPatternSyntax - and "Using filter patterns to match terms in JSON
log events"; PutMetricFilter API reference):

[JSON]     `{ SELECTOR EQUALITY_OPERATOR STRING }`, "enclosed in curly braces". "Property selectors always start
           with dollar sign ($) ... Property selectors are alphanumeric strings that also support '-' and '_'
           characters. Array elements are denoted with [NUMBER] syntax".
[STRING]   "A string with or without quotes. You can use the asterisk '*' wildcard character to match any text
           at, before, or after a search term ... Ev*ent will only match the actual string Ev*ent. Strings that
           consist entirely of alphanumeric characters do not need to be quoted." "Metric filters are case
           sensitive." Inside quotes, `\\` and `\"` stand for `\` and `"` (as the AWS CDK's quoteTerm writes them);
           any other backslash is an error here.
[NUMERIC]  `<, >, >=, <=, =, !=` with a number.
[SPECIAL]  "The SELECTOR must point to a value node (string or number) in the JSON. If it points to an array or
           object, the filter will not be applied" - such a comparison, `!=` included, is false; so is one on a
           selector that does not exist. `IS NULL` "will only be true if the specified object is set to null";
           `NOT EXISTS` "only true if specified object does not exist"; `IS TRUE`/`IS FALSE` on booleans.
[COMPOUND] `&&` and `||` with parentheses; "the syntax follows standard order of operations () > && > ||".
[LIMIT]    PutMetricFilter filterPattern: at most 1,024 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from .syntax import And, Or, TokenCursor, compare

FILTER_PATTERN_MAX_LENGTH = 1024
_MISSING = object()


class FilterPatternError(Exception):
    """A pattern outside the evaluated JSON subset."""


@dataclass(frozen=True)
class Selector:
    path: tuple  # str keys and int indexes

    def resolve(self, event):
        node = event
        for step in self.path:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return _MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return _MISSING
                node = node[step]
        return node


@dataclass(frozen=True)
class StringTerm:
    text: str  # without the wildcards
    lead: bool  # `*` before
    trail: bool  # `*` after

    def matches(self, value: str) -> bool:
        if self.lead and self.trail:
            return self.text in value
        if self.lead:
            return value.endswith(self.text)
        if self.trail:
            return value.startswith(self.text)
        return value == self.text


@dataclass(frozen=True)
class Comparison:
    selector: Selector
    op: str
    value: object  # StringTerm or float


@dataclass(frozen=True)
class Postfix:
    selector: Selector
    test: str  # "IS NULL", "NOT EXISTS", "IS TRUE", "IS FALSE"


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<punct>&&|\|\||[{}()]|!=|<=|>=|=|<|>)
    | (?P<selector>\$(?:\.[A-Za-z0-9_-]+|\[\d+\])+)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z0-9_*]))
    | (?P<word>\*?[A-Za-z0-9_]+\*?|\*)
    | (?P<regex>%)
    )""",
    re.VERBOSE,
)


class Token(NamedTuple):
    kind: str
    text: str


def tokenize(pattern: str) -> list[Token]:
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i:].strip() == "":
            break
        m = _TOKEN.match(pattern, i)
        if not m or m.end() == i:
            raise FilterPatternError(f"unexpected text at {i}: {pattern[i:i + 20]!r}")
        kind = m.lastgroup
        if kind == "regex":
            raise FilterPatternError("%regex% terms are not in the evaluated subset")
        tokens.append(Token(kind, m.group(kind)))
        i = m.end()
    return tokens


class _Parser(TokenCursor):
    error = FilterPatternError
    input_name = "pattern"

    def expr(self):  # [COMPOUND] && binds tighter than ||
        args = [self.conj()]
        while self.accept("punct", "||"):
            args.append(self.conj())
        return Or.of(args)

    def conj(self):
        args = [self.term()]
        while self.accept("punct", "&&"):
            args.append(self.term())
        return And.of(args)

    def term(self):
        kind, text = self.next()
        if text == "(":
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        if kind != "selector":
            raise FilterPatternError(f"expected a selector, got {text!r}")
        selector = Selector(tuple(int(p[1:-1]) if p.startswith("[") else p[1:] for p in re.findall(r"\.[^.\[]+|\[\d+\]", text[1:])))
        kind, op = self.next()
        if kind == "word" and op in ("IS", "NOT"):
            word = self.next()[1]
            test = f"{op} {word}"
            if test not in ("IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS"):
                raise FilterPatternError(f"unknown test {test!r}")
            return Postfix(selector, test)
        if kind != "punct" or op not in ("=", "!=", "<", "<=", ">", ">="):
            raise FilterPatternError(f"expected an operator after the selector, got {op!r}")
        vkind, vtext = self.next()
        if vkind == "number":
            return Comparison(selector, op, float(vtext))
        if op not in ("=", "!="):
            raise FilterPatternError(f"{op} needs a number, got {vtext!r}")
        if vkind == "string":
            return Comparison(selector, op, _string_term(vtext[1:-1], quoted=True))
        if vkind == "word":
            return Comparison(selector, op, _string_term(vtext, quoted=False))
        raise FilterPatternError(f"expected a value, got {vtext!r}")


def _string_term(raw: str, quoted: bool) -> StringTerm:
    chars: list[tuple[str, bool]] = []  # (character, written as an escape)
    i = 0
    while i < len(raw):
        if quoted and raw[i] == "\\":
            if raw[i + 1 : i + 2] not in ('"', "\\"):
                raise FilterPatternError(f"escape \\{raw[i + 1:i + 2]} in a quoted string is not documented")
            chars.append((raw[i + 1], True))
            i += 2
        else:
            chars.append((raw[i], False))
            i += 1
    # [STRING] a wildcard is a '*' written at either end of the term
    lead = bool(chars) and chars[0] == ("*", False)
    trail = len(chars) > 1 and chars[-1] == ("*", False)
    body = chars[(1 if lead else 0) : (len(chars) - 1 if trail else len(chars))]
    return StringTerm("".join(c for c, _ in body), lead, trail)


@dataclass
class FilterPattern:
    text: str
    root: object

    def matches(self, event: dict) -> bool:
        return _eval(self.root, event)


def parse(pattern: str) -> FilterPattern:
    if len(pattern) > FILTER_PATTERN_MAX_LENGTH:
        raise FilterPatternError(f"pattern is {len(pattern)} characters, over PutMetricFilter's {FILTER_PATTERN_MAX_LENGTH}")
    tokens = tokenize(pattern)
    if not tokens or tokens[0][1] != "{" or tokens[-1][1] != "}":
        raise FilterPatternError("only JSON filter patterns `{ ... }` are in the evaluated subset")
    parser = _Parser(tokens[1:-1])
    root = parser.expr()
    if not parser.done():
        raise FilterPatternError(f"trailing tokens: {parser.tokens[parser.i:]}")
    return FilterPattern(pattern, root)


def _is_value_node(v) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def _eval(node, event) -> bool:
    if isinstance(node, (And, Or)):  # two-valued: a comparison that does not apply is false [SPECIAL]
        results = (_eval(a, event) for a in node.args)
        return all(results) if isinstance(node, And) else any(results)
    value = node.selector.resolve(event)
    if isinstance(node, Postfix):
        if node.test == "NOT EXISTS":
            return value is _MISSING
        if node.test == "IS NULL":
            return value is None
        return isinstance(value, bool) and value == (node.test == "IS TRUE")
    if not _is_value_node(value):  # [SPECIAL] absent, null, boolean, object or array: not applied
        return False
    if isinstance(node.value, float):
        if isinstance(value, str):
            return False  # a string is not compared with a number
        a, b = float(value), node.value
        return compare(node.op, a, b)
    text = value if isinstance(value, str) else str(value)
    hit = node.value.matches(text)
    return hit if node.op == "=" else not hit


def matches(pattern: str, event: dict) -> bool:
    return parse(pattern).matches(event)
