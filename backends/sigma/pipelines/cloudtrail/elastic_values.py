"""Values as pysigma-backend-elasticsearch (2.1.1) must receive them to write what Sigma means, per language.

Each value the backends would write wrongly is replaced, before conversion, by a value of a type that writes itself
correctly: the backends write a string by calling its `convert` (and a regular expression by calling its `escape`)
with their own escape settings, so the fix travels with the value. It therefore holds for `sigma convert -t
lucene|eql|esql -p ecs_cloudtrail` too, where our code cannot replace the backend class, and in every output
format (the dictionaries of `eqlapi`, `kibana_ndjson`, `dsl_lucene`, ... included), with no rewriting of query text.

Strings (`LuceneString`, `EqlString`, `EqlCasedString`, `EsqlString`). The backends escape what their query
syntax needs but leave out line breaks: Lucene's query parser splits a term on a raw tab, line break or ideographic
space (a backslash before one makes it part of the term); the EQL backend writes a backslash before a raw line
break or tab, where EQL strings want `\\n`, `\\r`, `\\t`; ES|QL strings allow only the escapes `\\t \\n \\r
\\" \\\\` (ES|QL reference, "Literals"), so a raw line break must be `\\n`, and the wildcard escapes `\\*`
`\\?` the backend writes belong in LIKE patterns only, not in `==`, `in`, `starts_with` or `ends_with` strings.

Regular expressions. The backends copy a Sigma pattern into each language's literal with the wrong escapes:
EQL leaves `"` and line breaks raw in its string and writes `/` as `\\/` (no EQL string escape), so
`x" or event.provider : "y` becomes a second condition; Lucene writes every `/` as `\\/`, also one that
is already escaped (`c\\/d` becomes `/c\\\\/d/`: the slash ends the regex). And none of them translates
the pattern into Lucene's RegExp syntax, which all three languages use (`lucene_regexp`). The pipeline
replaces each regular expression with `ElasticRegularExpression`, whose `escape()` (what the backends
call to write a pattern) returns the Lucene RegExp already written in the language's literal: for Lucene
the pattern itself (every `/` is escaped, being a non-alphanumeric literal; a backslash before a raw tab, line
break or ideographic space, as in a term), for EQL and ES|QL the body of a double-quoted string (`\\\\`, `\\"`,
`\\n`, `\\r`, `\\t`). EQL's backend always writes `regex~`, which ignores ASCII case; a pattern that tells
ASCII letters from their other case (any Sigma regex with letters, without `|i`) is refused there.

Modifiers the backends have no expression for are refused with the reason, rather than raising
NotImplementedError mid-conversion: timestamp parts (`|minute`, ...) in Lucene, `|exists` in EQL (the
backend has no existence expression); and so is what EQL's backend would write with another meaning: a
`|cased` value with wildcards (it writes `==`, which has none) or among a modifier's alternatives
(`|windash|cased`: it writes the case-insensitive `like~`). A `|cased` value in Lucene and ES|QL is written as a plain value: both compare
keyword fields case-sensitively already (docs/elastic.md, "Case"), which is what `|cased` means, while
their backends have no case-sensitive expression and raised NotImplementedError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.transformations.base import ValueTransformation
from sigma.types import (
    SigmaCasedString,
    SigmaExists,
    SigmaExpansion,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from . import pysigma_compat
from .lucene_regexp import RAW, RegexUnsupported, lucene_regexp

#: pySigma backend names (`Backend.name`, stored by pySigma in the pipeline variable `backend`).
LUCENE = "Elasticsearch Lucene"
EQL = "Elasticsearch EQL"
ESQL = "ES|QL backend"

_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
#: Escapes of EQL's and ES|QL's double-quoted strings (both read \\ \" \n \r \t; neither a raw line break).
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Characters Lucene's query parser splits terms on, which a backslash makes part of the term.
_LUCENE_SPACES = re.compile("[" + "".join(sorted(RAW)) + "]")


def _lucene_spaces(text: str) -> str:
    return _LUCENE_SPACES.sub(lambda m: "\\" + m.group(), text)


class LuceneString(SigmaString):
    """A string value for the Lucene backend: its escaping, and a backslash before a raw tab, line break or
    ideographic space (the backend escapes neither; a literal one only comes from the value's text)."""

    def convert(self, *args, **kwargs) -> str:  # type: ignore[override]
        return _lucene_spaces(super().convert(*args, **kwargs))


def _without(chars: str, removed: str) -> str:
    return "".join(c for c in chars if c not in removed)


def _eql_body(string: SigmaString, escape_char, wildcard_multi, wildcard_single, add_escaped, filter_chars) -> str:
    """The backend's escaping without its backslash before a raw line break or tab, each then written as EQL's
    escape for it."""
    text = SigmaString.convert(string, escape_char, wildcard_multi, wildcard_single, _without(add_escaped, "\n\r\t"), filter_chars)
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


class EqlString(SigmaString):
    """A string value for the EQL backend (see the module docstring)."""

    def convert(self, escape_char="\\", wildcard_multi="*", wildcard_single="?", add_escaped="", filter_chars="") -> str:  # type: ignore[override]
        return _eql_body(self, escape_char, wildcard_multi, wildcard_single, add_escaped, filter_chars)


class EqlCasedString(SigmaCasedString):
    """A `|cased` string value for the EQL backend (written with `==`), escaped as `EqlString`."""

    def convert(self, escape_char="\\", wildcard_multi="*", wildcard_single="?", add_escaped="", filter_chars="") -> str:  # type: ignore[override]
        return _eql_body(self, escape_char, wildcard_multi, wildcard_single, add_escaped, filter_chars)


class EsqlString(SigmaString):
    """A string value for the ES|QL backend: without wildcards (written in `==`, `in`, `starts_with`, `ends_with`)
    a literal `*` or `?` is not escaped; in a LIKE pattern (with wildcards) it is; a line break is `\\n`, `\\r`."""

    def convert(self, escape_char="\\", wildcard_multi="*", wildcard_single="?", add_escaped="", filter_chars="") -> str:  # type: ignore[override]
        if not self.contains_special():
            wildcard_multi = wildcard_single = None  # nothing to write as a wildcard, nothing to escape as one
        text = super().convert(escape_char, wildcard_multi, wildcard_single, add_escaped, filter_chars)
        return text.replace("\n", "\\n").replace("\r", "\\r")


_STRINGS = {LUCENE: LuceneString, EQL: EqlString, ESQL: EsqlString}


def written_string(value: SigmaString, backend: str) -> SigmaString:
    """`value` as the string type that writes itself for `backend`; a `|cased` value stays case-sensitive in EQL and
    becomes a plain value in Lucene and ES|QL (the module docstring says why)."""
    cls = EqlCasedString if backend == EQL and isinstance(value, SigmaCasedString) else _STRINGS[backend]
    written = cls(value.original)
    written.s = list(value.s)
    return written


class ElasticRegularExpression(SigmaRegularExpression):
    """A regular expression already written for one Elastic language: `escape()` returns it as it goes
    between the backend's delimiters (`/.../` or `"..."`), whatever escaping the backend asks for."""

    def __init__(self, written: str, original: SigmaRegularExpression):
        self.written = written
        self.original = original
        super().__init__(SigmaString(written, escape=False))  # no flags: `written` holds their meaning

    def compile(self) -> None:  # the written pattern is Lucene syntax, not Python's
        return None

    def escape(self, escaped=(), escape_char="\\", escape_escape_char=True, flag_prefix=True) -> str:  # type: ignore[override]
        return self.written


def _string_body(text: str) -> str:
    return "".join(_STRING_ESCAPES.get(c, c) for c in text)


def regex_literal(pattern: str, backend: str) -> str:
    """A Lucene RegExp as it goes between `backend`'s delimiters (what ElasticRegularExpression.escape returns)."""
    return _lucene_spaces(pattern) if backend == LUCENE else _string_body(pattern)


def python_flags(value: SigmaRegularExpression) -> int:
    """The `re` flags of a Sigma regular expression's modifiers (|i, |m, |s)."""
    flags = 0
    for flag in value.flags:
        flags |= _FLAGS[flag]
    return flags


def _refuse(what: str, reason: str) -> None:
    raise SigmaFeatureNotSupportedByBackendError(f"ecs_cloudtrail: {what}: {reason}")


def written_regex(value: SigmaRegularExpression, backend: str, field: str | None) -> ElasticRegularExpression:
    """`value` as the Lucene RegExp of the same meaning, in `backend`'s literal; or refused with the reason."""
    try:
        pattern, case_sensitive = lucene_regexp(str(value.regexp), python_flags(value))
    except RegexUnsupported as e:
        _refuse(f"{field}|re", f"{e}: Lucene regular expressions (Elastic's Lucene, EQL and ES|QL) have no equivalent")
        raise  # unreachable
    if backend == EQL and case_sensitive:
        _refuse(
            f"{field}|re",
            "pysigma-backend-elasticsearch writes every EQL regular expression with regex~, which ignores ASCII "
            "case, while this one is case-sensitive (add |i if the letter case does not matter)",
        )
    return ElasticRegularExpression(regex_literal(pattern, backend), value)


@dataclass
class EcsValueTransformation(ValueTransformation):
    """Each value as its backend must receive it (see the module docstring). Runs after the rule checks,
    before the field mapping, so that a refusal names the CloudTrail field."""

    def apply_value(self, field: str, val: SigmaType):  # type: ignore[override]
        backend = pysigma_compat.backend_name(self)
        if backend not in (LUCENE, EQL, ESQL):
            return None
        if isinstance(val, SigmaTimestampPart) and backend == LUCENE:
            _refuse(field, "Lucene query syntax cannot compare a part of a date (|minute, |hour, ...)")
        if isinstance(val, SigmaExists) and backend == EQL:
            _refuse(f"{field}|exists", "pysigma-backend-elasticsearch has no EQL expression for whether a field exists")
        if isinstance(val, SigmaRegularExpression):
            return written_regex(val, backend, field)
        if isinstance(val, SigmaExpansion):
            if backend == EQL and any(isinstance(v, SigmaCasedString) for v in val.values):
                _refuse(
                    f"{field}|cased",
                    "pysigma-backend-elasticsearch writes the alternatives a modifier expands a value into "
                    "(|windash, |base64offset, ...) as EQL's case-insensitive like~",
                )
            val.values = [self.apply_value(field, v) or v for v in val.values]
            return val
        if isinstance(val, SigmaCasedString):
            if backend == EQL and val.contains_special():
                _refuse(
                    f"{field}|cased",
                    "pysigma-backend-elasticsearch writes a case-sensitive EQL match as ==, which has no wildcards "
                    "(contains, startswith, endswith)",
                )
        if isinstance(val, SigmaString):
            return written_string(val, backend)
        return None
