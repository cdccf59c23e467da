"""What the evaluators' parsers have in common: a cursor over tokens, the expression nodes that mean the same
thing in every language here, SQL's three-valued logic, the comparison operators, wildcard patterns as regular
expressions, and the PCRE spellings that Python's `re` writes differently.

Each evaluator keeps its own lexer, grammar and semantics: which tokens exist, what a keyword is and whether
its case matters (`TokenCursor.same_text`), how values compare, whether logic is two- or three-valued, which
characters are wildcards and how they are escaped (`Wildcards`), which regex constructs are refused.
Nothing here imports the pack's own code.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

# ------------------------------------------------------------------------------------------------ tokens


class TokenCursor:
    """A parser's position in a token list. Tokens have `kind` and `text`; a subclass names the error its
    language raises (`error`) and what the input is called in messages (`input_name`)."""

    error: type[Exception] = ValueError
    input_name = "input"

    def __init__(self, tokens: Sequence):
        self.tokens = list(tokens)
        self.i = 0

    def peek(self, offset: int = 0):
        """The token `offset` places ahead, or None past the end."""
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def next(self):
        tok = self.peek()
        if tok is None:
            raise self.error(f"unexpected end of {self.input_name}")
        self.i += 1
        return tok

    def same_text(self, tok, text: str) -> bool:
        """Whether a token is written `text`: exactly, unless the language's keywords ignore case."""
        return tok.text == text

    def at(self, kind: str | None = None, *texts: str, offset: int = 0) -> bool:
        """Whether the token `offset` places ahead is of `kind` (any, if None) and written as one of `texts`
        (any text, if none is given)."""
        tok = self.peek(offset)
        return (
            tok is not None
            and (kind is None or tok.kind == kind)
            and (not texts or any(self.same_text(tok, t) for t in texts))
        )

    def accept(self, kind: str | None = None, text: str | None = None):
        """The next token if it is of `kind` and written `text` (either may be None: any), else None."""
        if self.at(kind, *(() if text is None else (text,))):
            return self.next()
        return None

    def expect(self, kind: str | None = None, text: str | None = None):
        tok = self.accept(kind, text)
        if tok is None:
            got = self.peek()
            raise self.error(f"expected {text or kind}, got {repr(got.text) if got else f'end of {self.input_name}'}")
        return tok


# ------------------------------------------------------------------------------------------------ nodes
# Expression nodes whose meaning is the same in every language here; what they evaluate to is each
# evaluator's own (e.g. `Not` of an unknown is unknown in Logs Insights and ES|QL, and a `Not` in an SPL
# search keeps the events without the field).


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Lit:
    value: object  # as the language reads it: str, a number, a boolean or None


@dataclass(frozen=True)
class Compare:
    op: str  # as written: = == != < <= > >=
    left: object
    right: object


@dataclass(frozen=True)
class In:
    operand: object
    values: tuple
    negated: bool = False


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True)
class Not:
    arg: object


@dataclass(frozen=True)
class _Junction:
    args: tuple

    @classmethod
    def of(cls, args: Sequence):
        """The junction of `args`; a single operand stands for itself."""
        return args[0] if len(args) == 1 else cls(tuple(args))


class And(_Junction):
    """All of `args` (equal only to an And: dataclass equality compares classes)."""


class Or(_Junction):
    """Any of `args`."""


# ------------------------------------------------------------------------------------------------ logic
# SQL's three-valued logic: True, False and None (unknown / null).


def and3(values: Iterable[bool | None]) -> bool | None:
    values = list(values)
    return False if False in values else None if None in values else True


def or3(values: Iterable[bool | None]) -> bool | None:
    values = list(values)
    return True if True in values else None if None in values else False


def not3(value: bool | None) -> bool | None:
    return None if value is None else not value


_COMPARISONS = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compare(op: str, a, b) -> bool:
    """`a op b` for a comparison operator as written (`=` and `==` both mean equal)."""
    return _COMPARISONS[op](a, b)


# ------------------------------------------------------------------------------------------------ wildcards


@dataclass(frozen=True)
class Wildcards:
    """A language's wildcard characters: `many` matches any run of characters, `one` (if any) one character,
    and `escape` (if any) makes the character after it literal (an `escape` at the very end is a literal)."""

    many: str
    one: str | None = None
    escape: str | None = None

    def parts(self, pattern: str) -> Iterator[tuple[str, bool]]:
        """(character, whether it is a wildcard) for each character the pattern stands for."""
        i = 0
        while i < len(pattern):
            c = pattern[i]
            if c == self.escape and i + 1 < len(pattern):
                yield pattern[i + 1], False
                i += 2
                continue
            yield c, c == self.many or c == self.one
            i += 1

    def has_wildcard(self, pattern: str) -> bool:
        return any(wild for _, wild in self.parts(pattern))

    def regex(self, pattern: str, flags: int = 0) -> re.Pattern:
        """The pattern as a regular expression (to `fullmatch` a whole value)."""
        out = [(".*" if c == self.many else ".") if wild else re.escape(c) for c, wild in self.parts(pattern)]
        return re.compile("".join(out), flags)


# ------------------------------------------------------------------------------------------------ PCRE


def pcre_class_start(pattern: str, i: int) -> tuple[str, int]:
    """At a `[` that opens a PCRE character class: the Python spelling of its start, and where its members
    start. In PCRE a `]` right after `[` or `[^` is a member, not the end of the class."""
    out, i = "[", i + 1
    if pattern[i : i + 1] == "^":
        out, i = out + "^", i + 1
    if pattern[i : i + 1] == "]":
        out, i = out + "\\]", i + 1
    return out, i


def pcre_named_group(pattern: str, i: int) -> bool:
    """Whether a PCRE named group `(?<name>...)` starts at `i` (Python spells it `(?P<name>...)`); `(?<=` and
    `(?<!` are lookbehinds."""
    return pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i)
