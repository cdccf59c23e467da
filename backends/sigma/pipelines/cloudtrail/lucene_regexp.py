"""Sigma regular expressions as Lucene RegExp patterns of the same meaning, for Elastic's Lucene, EQL and ES|QL.

All three Elastic languages hand a regular expression to Lucene's RegExp engine (Elasticsearch reference,
"Regular expression syntax"; EQL `regex~` and ES|QL `RLIKE` use the same syntax), which is not PCRE:
the pattern must match the whole value (Sigma's, like Python's `re.search`, may match anywhere); `"`,
`#`, `@`, `&`, `~`, `<`, `>` are operators (a quoted literal, the empty language, any string,
intersection, complement, a numeric interval); `^` and `$` are plain characters; there are no inline
flags, anchors inside the pattern, look-arounds or back-references; `\\d`, `\\s`, `\\w` are ASCII
classes. Passing Sigma's pattern through (as pysigma-backend-elasticsearch 2.1.1 does) changes its meaning
or its syntax.

So the pattern is not copied: Python's own parser (`re._parser`, what `re.compile` uses, whose meaning the
pack's reference engine gives Sigma's regular expressions) reads it, and the Lucene pattern is written
from the parsed tree: every literal character that is not an ASCII letter or digit written `\\c` (an
escaped character is that character in Lucene), `.*` around it unless `^` / `\\A` or `$` / `\\Z` anchor it,
`$` also accepting one final line break as Python's does, `.` as "anything but a line break" unless `s`,
`(?i)` as each letter's case variants (Python's Unicode case folding, written out), `\\d` and `\\s` as
Python's Unicode sets. What has no Lucene counterpart of the same meaning is refused with the reason
(`RegexUnsupported`), never approximated.

The line breaks, tabs, carriage returns and ideographic spaces the pattern matches literally are written as
the raw characters (a literal in Lucene RegExp): each language's own escaping then writes them (`\\n` in
EQL and ES|QL strings; in Lucene query syntax `elastic_values.written_regex` puts a backslash before them,
which RegExp reads as the same character).
"""

from __future__ import annotations

import re
import sys
from functools import cache

import _sre

try:  # Python 3.11+
    from re import _constants as C  # noqa: N812 - Python's own regex opcodes
    from re import _parser as sre_parse
    from re._casefix import _EXTRA_CASES
except ImportError:  # Python 3.10
    import sre_constants as C  # noqa: N812
    import sre_parse
    from sre_compile import _ignorecase_fixes as _EXTRA_CASES

__all__ = ["RegexUnsupported", "lucene_regexp", "lucene_regexp_union"]


class RegexUnsupported(ValueError):
    """A construct of a Sigma regular expression with no Lucene RegExp equivalent of the same meaning."""


#: Characters written raw (see the module docstring): the languages escape them in their own syntax.
RAW = frozenset("\t\n\r\u3000")
#: Python's extra case-insensitive equivalences (e.g. k and the Kelvin sign), by lower-case code point.
_IGNORECASE_FIXES: dict[int, tuple[int, ...]] = dict(_EXTRA_CASES)
#: Largest character range whose case variants are written out under (?i).
_MAX_FOLDED_RANGE = 512


def _char(c: str) -> str:
    """One literal character in Lucene RegExp syntax: itself if an ASCII letter or digit, else escaped."""
    if (c.isascii() and c.isalnum()) or c in RAW:
        return c
    return "\\" + c


@cache
def _lowered_from() -> dict[str, frozenset[str]]:
    """{lower-case character: the characters whose simple lower-case mapping it is} (e.g. k: K and the
    Kelvin sign), which Python's case-insensitive matching equates."""
    table: dict[str, set[str]] = {}
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        lower = c.lower()
        if len(lower) == 1 and lower != c:
            table.setdefault(lower, set()).add(c)
    return {k: frozenset(v) for k, v in table.items()}


def _fold_candidates(c: str) -> set[str]:
    lower = c.lower() if len(c.lower()) == 1 else c
    out = {c, lower} | _lowered_from().get(lower, frozenset())
    for other in (lower.upper(), lower.title(), c.upper(), c.title()):
        if len(other) == 1:
            out.add(other)
    for code in _IGNORECASE_FIXES.get(ord(lower), ()) + _IGNORECASE_FIXES.get(ord(c), ()):
        out.add(chr(code))
    return out


@cache
def _fold(c: str) -> tuple[str, ...]:
    """Every character Python's `re.IGNORECASE` matches `c` with (its simple case mappings and the special
    equivalences of `re._compiler`, each confirmed with `re`)."""
    return tuple(sorted(x for x in _fold_candidates(c) if re.fullmatch(re.escape(c), x, re.IGNORECASE)))


def _variants(c: str, ignorecase: bool) -> list[str]:
    return list(_fold(c)) if ignorecase else [c]


def _ascii_cased(c: str) -> bool:
    return c.isascii() and c.isalpha()


@cache
def _python_class(test: str) -> tuple[tuple[str, str], ...]:
    """Ranges of the characters Python's str patterns put in `\\d` (decimal) or `\\s` (whitespace)."""
    member = str.isdecimal if test == "digit" else str.isspace  # _sre's Unicode DIGIT and SPACE
    ranges: list[list[str]] = []
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if member(c):
            if ranges and ord(ranges[-1][1]) == code - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return tuple((lo, hi) for lo, hi in ranges)


_CATEGORIES = {C.CATEGORY_DIGIT: "digit", C.CATEGORY_SPACE: "space"}
_NEGATED = {C.CATEGORY_NOT_DIGIT: "digit", C.CATEGORY_NOT_SPACE: "space"}


class _Writer:
    def __init__(self):
        #: Whether the written pattern tells an ASCII letter from its other case (a literal letter, a range
        #: that holds letters) outside (?i): a case-insensitive RegExp match (EQL's regex~) would widen it.
        self.ascii_case_sensitive = False

    def note_case(self, chars: str, ignorecase: bool) -> None:
        if not ignorecase and any(_ascii_cased(c) for c in chars):
            self.ascii_case_sensitive = True

    def members(self, items, flags: int) -> tuple[str, bool]:
        """(the inside of a Lucene character class, negated?) for the items of a Python `IN`."""
        negate = False
        out: list[str] = []
        ignorecase = bool(flags & re.IGNORECASE)
        members: set[str] = set()  # the class's ASCII members, for its letter case
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                members.add(chr(av))
                out.extend(_char(v) for v in _variants(chr(av), ignorecase))
            elif op is C.RANGE:
                members.update(map(chr, range(av[0], min(av[1], 0x7F) + 1)))
                out.append(self.range(chr(av[0]), chr(av[1]), ignorecase))
            elif op is C.CATEGORY and av in _CATEGORIES:
                out.extend(f"{_char(lo)}-{_char(hi)}" if lo != hi else _char(lo) for lo, hi in _python_class(_CATEGORIES[av]))
            elif op is C.CATEGORY and av in _NEGATED and len(items) == 1:
                return self.members([(C.CATEGORY, {v: k for k, v in _CATEGORIES.items()}[_NEGATED[av]])], flags)[0], True
            else:
                raise RegexUnsupported(f"{_name(op, av)} inside a character class")
        # A class holding both cases of each ASCII letter in it ([Ss]) matches the same ignoring ASCII case.
        if any(_ascii_cased(c) and c.swapcase() not in members for c in members):
            self.note_case("".join(sorted(members)), ignorecase)
        return "".join(out), negate

    @staticmethod
    def range(lo: str, hi: str, ignorecase: bool) -> str:
        text = f"{_char(lo)}-{_char(hi)}"
        if not ignorecase:
            return text
        chars = [chr(c) for c in range(ord(lo), ord(hi) + 1)] if ord(hi) - ord(lo) < _MAX_FOLDED_RANGE else None
        if chars is None:
            if any(_sre.unicode_iscased(c) for c in range(ord(lo), ord(hi) + 1)):
                raise RegexUnsupported(f"a case-insensitive range {lo!r}-{hi!r} of over {_MAX_FOLDED_RANGE} characters")
            return text
        extra = sorted({v for c in chars for v in _variants(c, True)} - set(chars))
        return text + "".join(_char(v) for v in extra)

    def node(self, op, av, flags: int) -> str:
        if op is C.LITERAL:
            return self.literal(chr(av), flags)
        if op is C.NOT_LITERAL:
            self.note_case(chr(av), bool(flags & re.IGNORECASE))
            return "[^" + "".join(_char(v) for v in _variants(chr(av), bool(flags & re.IGNORECASE))) + "]"
        if op is C.ANY:
            return "." if flags & re.DOTALL else "[^\n]"
        if op is C.IN:
            inside, negate = self.members(av, flags)
            return ("[^" if negate else "[") + inside + "]"
        if op is C.CATEGORY and (av in _CATEGORIES or av in _NEGATED):
            inside, negate = self.members([(op, av)], flags)
            return ("[^" if negate else "[") + inside + "]"
        if op is C.BRANCH:
            return "(" + "|".join(self.sequence(branch, flags) or "()" for branch in av[1]) + ")"
        if op is C.SUBPATTERN:
            _group, add, remove, pattern = av
            return "(" + self.sequence(pattern, (flags | add) & ~remove) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):  # greedy or lazy: the same set of matching values
            low, high, item = av
            return "(" + self.sequence(item, flags) + ")" + _repeat(low, high)
        raise RegexUnsupported(_name(op, av))

    def literal(self, c: str, flags: int) -> str:
        self.note_case(c, bool(flags & re.IGNORECASE))
        variants = _variants(c, bool(flags & re.IGNORECASE))
        return _char(c) if len(variants) == 1 else "[" + "".join(_char(v) for v in variants) + "]"

    def sequence(self, items, flags: int) -> str:
        return "".join(self.node(op, av, flags) for op, av in items)


def _repeat(low: int, high: int) -> str:
    unbounded = high is C.MAXREPEAT or high == C.MAXREPEAT
    if (low, unbounded) == (0, True):
        return "*"
    if (low, unbounded) == (1, True):
        return "+"
    if unbounded:
        return "{%d,}" % low
    if (low, high) == (0, 1):
        return "?"
    return "{%d}" % low if low == high else "{%d,%d}" % (low, high)


def _name(op, av) -> str:
    names = {
        C.AT: "an anchor or word boundary inside the pattern",
        C.GROUPREF: "a back-reference",
        C.GROUPREF_EXISTS: "a conditional group",
        C.ASSERT: "a look-ahead or look-behind",
        C.ASSERT_NOT: "a negative look-ahead or look-behind",
        C.CATEGORY: "\\w, \\W (Lucene's are ASCII, Python's Unicode)",
    }
    for extra in ("ATOMIC_GROUP", "POSSESSIVE_REPEAT"):
        if getattr(C, extra, None) is op:
            return "an atomic group or possessive quantifier"
    return names.get(op, str(op).lower())


_START = (C.AT_BEGINNING, C.AT_BEGINNING_STRING)
_END = (C.AT_END, C.AT_END_STRING)


def _parsed(pattern: str, flags: int):
    """(top-level items without their anchors, prefix, suffix, flags) of a Python pattern, as Lucene writes it."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as e:
        raise RegexUnsupported(f"not a valid regular expression: {e}") from e
    flags = parsed.state.flags
    items = list(parsed)
    multiline = bool(flags & re.MULTILINE)
    prefix, suffix = ".*", ".*"
    if items and items[0][0] is C.AT and items[0][1] in _START and not (multiline and items[0][1] is C.AT_BEGINNING):
        items, prefix = items[1:], ""
    if items and items[-1][0] is C.AT and items[-1][1] in _END and not (multiline and items[-1][1] is C.AT_END):
        # Python's $ (not \Z) also matches before a line break that ends the value.
        suffix = "\n?" if items[-1][1] is C.AT_END else ""
        items = items[:-1]
    if flags & re.VERBOSE or flags & re.ASCII or flags & re.LOCALE:
        raise RegexUnsupported("the x, a and L flags")
    return items, prefix, suffix, flags


def lucene_regexp(pattern: str, flags: int = 0) -> tuple[str, bool]:
    """`pattern` (Python syntax, matched anywhere in the value as `re.search` does, with `flags`) as a Lucene
    RegExp that matches a whole value exactly when it does; and whether that RegExp tells ASCII letters from
    their other case (so that a case-insensitive match would mean something else)."""
    items, prefix, suffix, flags = _parsed(pattern, flags)
    writer = _Writer()
    return prefix + writer.sequence(items, flags) + suffix, writer.ascii_case_sensitive


def _alternatives(item, flags: int):
    """(the branches, their flags) of a top-level item that is a group of alternatives (or a bare one), else None."""
    op, av = item
    if op is C.BRANCH:
        return av[1], flags
    if op is C.SUBPATTERN:
        _group, add, remove, inner = av
        inner = list(inner)
        if len(inner) == 1 and inner[0][0] is C.BRANCH:
            return inner[0][1][1], (flags | add) & ~remove
    return None


def lucene_regexp_union(pattern: str, flags: int = 0) -> tuple[list[str], bool]:
    """`lucene_regexp`'s RegExp as several whose union matches the same values: the pattern's first top-level
    group of alternatives distributed (what precedes it, one alternative, what follows it), each RegExp
    a fraction of the whole. Elasticsearch refuses a regular expression longer than `index.max_regex_length`
    (1000) or whose automaton determinizes into more than 10,000 states; a union of short ones is a
    query of several clauses, each within both limits where the alternatives are."""
    items, prefix, suffix, flags = _parsed(pattern, flags)
    for index, item in enumerate(items):
        found = _alternatives(item, flags)
        if found is None:
            continue
        branches, inner_flags = found
        writer = _Writer()
        head, tail = writer.sequence(items[:index], flags), writer.sequence(items[index + 1 :], flags)
        written = [prefix + head + "(" + (writer.sequence(b, inner_flags) or "()") + ")" + tail + suffix for b in branches]
        return written, writer.ascii_case_sensitive
    whole, case_sensitive = lucene_regexp(pattern, flags)
    return [whole], case_sensitive
