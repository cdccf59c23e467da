"""Python regular expressions as Java regular expressions with the same meaning, for Spark's RLIKE.

The reference engine runs a rule's `REGEXP` with Python's `re.search` (`reference._regexp`); Spark's
`RLIKE` runs `java.util.regex.Pattern.compile(p).matcher(s).find()` (Spark's `RLike`, the same
"search anywhere" semantics). The two dialects share most syntax but not all meaning: Python's `(?i)`
folds Unicode, Java's only ASCII unless `u` is added; Python's `.` and `$` know only `\\n` as a line end,
Java's also `\\r`, `\\u0085`, `\\u2028`, `\\u2029` unless `d` (UNIX_LINES) is set; Python's `\\Z` is
Java's `\\z`. So the pattern is not copied: Python's own parser (`re._parser`, what `re.compile` uses)
reads it and the Java pattern is written back from the parsed tree, each literal character as
`\\x{..}`. What has no exact Java counterpart (`\\w`, `\\s`, `\\b` with Unicode, conditional groups) is
refused with the reason, never approximated.
"""

from __future__ import annotations

import re
from re import _constants as C  # noqa: N812 - Python's own regex opcodes
from re import _parser as sre_parse

__all__ = ["RegexUnsupported", "python_to_java"]


class RegexUnsupported(ValueError):
    """A Python regex construct with no Java equivalent of the same meaning."""


_ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _char(code: int) -> str:
    c = chr(code)
    return c if c in _ALNUM else "\\x{%x}" % code


def _flags(flags: int) -> str:
    out = ""
    if flags & re.IGNORECASE:
        out += "i" if flags & re.ASCII else "iu"
    if flags & re.MULTILINE:
        out += "m"
    if flags & re.DOTALL:
        out += "s"
    return out


class _Writer:
    def __init__(self, ascii_mode: bool):
        self.ascii = ascii_mode

    def category(self, cat) -> str:
        if cat is C.CATEGORY_DIGIT:
            return "0-9" if self.ascii else "\\p{Nd}"
        if cat is C.CATEGORY_WORD and self.ascii:
            return "a-zA-Z0-9_"
        if cat is C.CATEGORY_SPACE and self.ascii:
            return " \\t\\n\\r\\x{c}\\x{b}"
        raise RegexUnsupported(f"{cat.name.lower()} (\\d is the only Unicode class Java reads as Python does)")

    def negated_category(self, cat) -> str:
        if cat is C.CATEGORY_NOT_DIGIT and not self.ascii:
            return "\\P{Nd}"
        positive = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
                    C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}.get(cat)
        if positive is None:
            raise RegexUnsupported(f"{cat.name.lower()}")
        return "[^" + self.category(positive) + "]"

    def class_item(self, op, av) -> str:
        if op is C.LITERAL:
            return _char(av)
        if op is C.RANGE:
            return _char(av[0]) + "-" + _char(av[1])
        if op is C.CATEGORY:
            if av in (C.CATEGORY_DIGIT, C.CATEGORY_WORD, C.CATEGORY_SPACE):
                return self.category(av)
            return self.negated_category(av)
        raise RegexUnsupported(f"{op.name.lower()} in a character class")

    def seq(self, items) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op, av) -> str:
        if op is C.LITERAL:
            return _char(av)
        if op is C.NOT_LITERAL:
            return "[^" + _char(av) + "]"
        if op is C.ANY:
            return "."
        if op is C.IN:
            negate = bool(av) and av[0][0] is C.NEGATE
            items = av[1:] if negate else av
            if len(items) == 1 and items[0][0] is C.CATEGORY and not negate:
                cat = items[0][1]
                if cat in (C.CATEGORY_DIGIT, C.CATEGORY_WORD, C.CATEGORY_SPACE):
                    return "[" + self.category(cat) + "]"
                return self.negated_category(cat)
            return "[" + ("^" if negate else "") + "".join(self.class_item(o, a) for o, a in items) + "]"
        if op is C.BRANCH:
            return "(?:" + "|".join(self.seq(b) for b in av[1]) + ")"
        if op is C.SUBPATTERN:
            group, add, delete, p = av
            local = _flags(add) + ("-" + _flags(delete) if _flags(delete) else "")
            if group is None:
                return f"(?{local}:" + self.seq(p) + ")"
            body = self.seq(p)
            return "(" + (f"(?{local}:{body})" if local else body) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            lo, hi, p = av
            bound = "{%d,}" % lo if hi is C.MAXREPEAT else "{%d,%d}" % (lo, hi)
            suffix = "?" if op is C.MIN_REPEAT else "+" if op is not C.MAX_REPEAT else ""
            return "(?:" + self.seq(p) + ")" + bound + suffix
        if op is getattr(C, "ATOMIC_GROUP", None):
            return "(?>" + self.seq(av) + ")"
        if op is C.AT:
            at = {C.AT_BEGINNING: "^", C.AT_END: "$", C.AT_BEGINNING_STRING: "\\A", C.AT_END_STRING: "\\z"}
            if av not in at:
                raise RegexUnsupported(f"{av.name.lower()} (Python's word boundary is Unicode-aware, Java's is not)")
            return at[av]
        if op is C.GROUPREF:
            return "(?:\\%d)" % av
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, p = av
            head = {(C.ASSERT, 1): "(?=", (C.ASSERT, -1): "(?<=", (C.ASSERT_NOT, 1): "(?!", (C.ASSERT_NOT, -1): "(?<!"}
            return head[(op, direction)] + self.seq(p) + ")"
        raise RegexUnsupported(f"{str(op).lower()}")


def python_to_java(pattern: str) -> str:
    """The Java regex meaning what `re.search(pattern, ...)` means; raises RegexUnsupported."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as e:
        raise RegexUnsupported(f"not a valid Python regular expression ({e})") from e
    flags = parsed.state.flags
    if flags & re.LOCALE:
        raise RegexUnsupported("the LOCALE flag")
    body = _Writer(bool(flags & re.ASCII)).seq(parsed)
    # d: only \n ends a line (Python's `.`, `^`, `$`); the global flags as Python read them
    return "(?d" + _flags(flags) + ")" + body
