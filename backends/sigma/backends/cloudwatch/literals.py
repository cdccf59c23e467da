"""How Sigma field names and values are written in Logs Insights query text.

Field names (CWL_QuerySyntax, "fields"): "Any log field named in a query that has characters other than the @ sign,
the period (.), and alphanumeric characters must be surrounded by backtick characters." Nested JSON fields are
written with dots and array elements with their index (`resources.0.ARN`, CWL_AnalyzeLogData-discoverable-fields).

String values: Logs Insights documents quoted strings (`"..."` or `'...'`) but no escape sequence inside them, so a
value is written as a `"..."` literal only when it needs none (no `"`, no backslash, no control character).
Anything else - and every match that needs wildcards or case folding - is written as a regular expression, where
PCRE escapes are well defined: literal characters are escaped, Sigma's `*`/`?` become `.*`/`.` under `(?s)` (a
wildcard matches any character, newlines included), and the value is anchored with `\\A` ... `\\z`, which mean start
and end of the value in every PCRE mode (`$` would also match before a final newline).

Case: Sigma matches strings case-insensitively unless `|cased`. `(?i)` folds ASCII letters; whether Logs Insights
folds other letters under `(?i)` is not documented, so every non-ASCII letter is also spelled out as an alternation of
its case forms (`(?:É|é)`), which matches in either reading; where a form is ASCII the group is case-sensitive
(`(?-i:I|ı)`), so that `(?i)` does not fold it once more (ı is not i).
"""

from __future__ import annotations

import re

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaValueError
from sigma.types import Placeholder, SigmaCasedString, SigmaString, SpecialChars

from .regex import control_escape, is_control

_PLAIN_FIELD = re.compile(r"[A-Za-z0-9@.]+")
_REGEX_META = set(".^$*+?()[]{}|\\/")


#: Words the query syntax gives a meaning (operators, keywords, the functions the backend writes): a field so named
#: is backticked, so that it is never read as the word (a plain name in backticks is still that field).
_RESERVED_WORDS = frozenset({"and", "or", "not", "like", "in", "by", "as", "asc", "desc", "ispresent", "isIpInSubnet", "tolower"})


def quote_field(name: str) -> str:
    """A field name as Logs Insights reads it: bare if only letters, digits, `@` and `.` and not a reserved word,
    else in backticks."""
    if not name or "`" in name or any(is_control(c) for c in name):
        raise SigmaFeatureNotSupportedByBackendError(
            f"field name {name!r} cannot be written in a Logs Insights query (backticks and control characters "
            "have no documented escape inside a backtick-quoted name)"
        )
    return name if _PLAIN_FIELD.fullmatch(name) and name not in _RESERVED_WORDS else f"`{name}`"


def is_literal_safe(text: str) -> bool:
    """True if `text` can be written between double quotes without any escape."""
    return '"' not in text and "\\" not in text and not any(is_control(c) for c in text)


def string_literal(text: str) -> str:
    if not is_literal_safe(text):  # pragma: no cover - callers check first
        raise ValueError(f"{text!r} needs escapes that Logs Insights does not document")
    return f'"{text}"'


def has_case(c: str) -> bool:
    """True if `c` has another case form (so a case-insensitive match differs from an exact one)."""
    return c.lower() != c or c.upper() != c or c.casefold() != c


def plain_text(value: SigmaString) -> str:
    """The literal characters of a Sigma string (wildcards left out)."""
    return "".join(p for p in value.s if isinstance(p, str))


def check_no_placeholders(value: SigmaString) -> None:
    if any(isinstance(p, Placeholder) for p in value.s):
        names = ", ".join(p.name for p in value.s if isinstance(p, Placeholder))
        raise SigmaFeatureNotSupportedByBackendError(
            f"placeholder(s) %{names}% were not replaced by a processing pipeline; Logs Insights has no "
            "placeholder lookups, so add a pipeline that expands them into values"
        )


def needs_case_folding(value: SigmaString) -> bool:
    """True if Sigma's match for `value` is case-insensitive and the value has letters with other case forms."""
    return not isinstance(value, SigmaCasedString) and any(has_case(c) for c in plain_text(value))


def is_exact_value(value: SigmaString) -> bool:
    """True if `value` can be matched with `=` / `in` on a quoted literal: no wildcards, no escapes, no folding."""
    check_no_placeholders(value)
    return not value.contains_special() and is_literal_safe(plain_text(value)) and not needs_case_folding(value)


def regex_char(c: str, fold: bool) -> str:
    """One literal character as regex text; `fold` spells out non-ASCII case forms (ASCII is folded by `(?i)`)."""
    if c in _REGEX_META:
        return "\\" + c
    if is_control(c):
        return control_escape(c)
    if fold and not c.isascii() and has_case(c):
        forms = sorted({f for f in (c, c.lower(), c.upper(), c.casefold(), c.swapcase()) if len(f) == 1})
        if len(forms) > 1:
            # an ASCII form (dotless ı's I) must not be folded again by (?i): it would also match `i`
            group = "(?-i:" if any(f.isascii() for f in forms) else "(?:"
            return group + "|".join(forms) + ")"
    return c


def value_regex(value: SigmaString, *, anchor_start: bool = True, anchor_end: bool = True, fold: bool | None = None) -> str:
    """The regex (without slashes) that matches what Sigma's string `value` matches.

    `fold` defaults to Sigma's rule: case-insensitive unless the value is cased or has no letters with case forms.
    """
    check_no_placeholders(value)
    fold = needs_case_folding(value) if fold is None else fold
    parts = list(value.s)
    # a leading/trailing `*` is the same as no anchor on that side: `*x*` is the substring search /x/
    while anchor_start and parts and parts[0] == SpecialChars.WILDCARD_MULTI:
        parts.pop(0)
        anchor_start = False
    while anchor_end and parts and parts[-1] == SpecialChars.WILDCARD_MULTI:
        parts.pop()
        anchor_end = False
    if not parts and not (anchor_start or anchor_end):
        anchor_start = True  # `*` alone: any value at all, empty included
    body: list[str] = []
    wildcard = False
    for part in parts:
        if isinstance(part, str):
            body.extend(regex_char(c, fold) for c in part)
        elif part == SpecialChars.WILDCARD_MULTI:
            body.append(".*")
            wildcard = True
        elif part == SpecialChars.WILDCARD_SINGLE:
            body.append(".")
            wildcard = True
        else:  # pragma: no cover - SigmaString has no other parts
            raise SigmaValueError(f"unexpected part {part!r} in string value")
    text = "".join(body)
    if anchor_start:
        text = "\\A" + text
    if anchor_end:
        text = text + "\\z"
    flags = ("i" if fold else "") + ("s" if wildcard else "")
    return (f"(?{flags})" if flags else "") + text
