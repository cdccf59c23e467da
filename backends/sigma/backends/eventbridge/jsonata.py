"""A Sigma condition as a JSONata boolean over the CloudTrail record, for the Choice state of a Step Functions
state machine (QueryLanguage "JSONata"; the record is `$states.input.detail`, the EventBridge event being the
execution's input).

An event pattern compares fields with constants only; JSONata compares anything, so the rules a pattern cannot
express (a field compared with another, `|fieldref`; a regular expression) still run in AWS without custom code:
an EventBridge rule whose pattern lets through at least every matching event (`pattern.convert(..., relax=True)`)
starts the state machine, whose Choice decides exactly. Exactly means as the reference engine decides (pySigma's
SQLite backend over the flattened record, `cloudtrail_pack.engine.reference`), and the expression is written to
that meaning:

* A field is reached through objects only (`$get`): a path through an array or a scalar is missing, as in the
  reference's flattened table (JSONata's own paths would map over arrays).
* Strings compare case-insensitively by folding ASCII letters only (`$fold`), as SQLite's NOCASE collation and
  LIKE do; a boolean compares as the text "true"/"false" (the reference stores booleans so); a number never
  equals a string. `|cased` values compare exactly. Wildcards `*` become a regular expression anchored at both
  ends over the folded text (`[\\s\\S]*`: any characters, newlines included); `?` is refused (a JavaScript regex
  without the `u` flag counts UTF-16 units, SQLite counts characters).
* `null` is a missing field or a JSON null; `exists` its opposite.
* `|fieldref`: two strings (or booleans) equal after folding, or two equal numbers; anything else, a missing
  field included, is not equal.
* `|re`: JSONata runs JavaScript regular expressions, the reference Python's. Only the dialect both read the same
  way is accepted (`regex_problem`): ASCII, escapes of punctuation and \\t \\n \\r, classes, groups, `(?:`,
  alternation, `*`, `+`, `?` (and their lazy forms), `^`; a negated class only under `*` or `+` (surrogate
  pairs), no `.`, `$`, `\\d\\w\\s\\b`, counted repetition or flags. The regex runs on strings and booleans.
* Values from the rule are JSON string literals with every non-ASCII character and `$` escaped (`literal`); a
  regular expression is rewritten so that JSONata's lexer, which ends it at the first unescaped `/` outside the
  brackets it counts, finds its real end (`regex_literal`).

Known differences from the reference, in neither of which the fields the pack's rules read occur: a value that is
a JSON object or array where the rule compares a leaf (the reference compares its JSON text) never matches;
numbers beyond 2^53 compare as JavaScript doubles.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from .pattern import refuse

#: The functions every condition uses, bound once at the top of its block.
PRELUDE = (
    '$d := $states.input.detail; '
    '$get := function($o, $k) { $type($o) = "object" ? $lookup($o, $k) : undefined }; '
    '$text := function($v) { $type($v) = "string" ? $v : $type($v) = "boolean" ? ($v ? "true" : "false") : undefined }; '
    '$fold := function($s) { $replace($s, /[A-Z]+/, function($m) { $lowercase($m.match) }) }; '
    '$same := function($a, $b) { ($type($a) = "number" and $type($b) = "number") ? $a = $b : '
    '($exists($text($a)) and $fold($text($a)) = $fold($text($b))) }'
)
_REGEX_META = set("\\^$.|?*+()[]{}/")
_SAFE_ESCAPES = set("\\^$.|?*+()[]{}/-") | set("tnr")


def fold(text: str) -> str:
    """ASCII letters lower-cased, nothing else: SQLite's NOCASE."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def literal(text: str) -> str:
    """A JSONata string literal of `text`: JSON's escapes, every non-ASCII character and `$` as \\uXXXX (so the
    text survives any template that reads `${`)."""
    return json.dumps(text, ensure_ascii=True).replace("$", "\\u0024")


# ---- regular expressions ------------------------------------------------------------------------------------


#: A regex as tokens: an escape (group 1), a class (negation mark, content: groups 2 and 3), or one character.
_REGEX_TOKEN = re.compile(r"\\(.)|\[(\^?)((?:\\.|[^\]\\])*)\]|(.)", re.S)
_UNITS = "a negated class not repeated by * or + (JavaScript matches UTF-16 units, Python characters)"


def regex_problem(regex: str) -> str | None:
    """Why `regex` might mean something else in JavaScript than in Python, or None (see the module docstring)."""
    if any(ord(c) > 126 or (ord(c) < 32 and c not in "\t\n\r") for c in regex):
        return "it holds non-ASCII or control characters"
    tokens = list(_REGEX_TOKEN.finditer(regex))
    for index, token in enumerate(tokens):
        following = tokens[index + 1].group(4) if index + 1 < len(tokens) else None
        problem = _token_problem(token, following, regex[token.end() : token.end() + 2])
        if problem:
            return problem
    return None


def _token_problem(token: re.Match, following: str | None, after: str) -> str | None:
    escaped, negated, content, char = token.groups()
    if escaped is not None:
        return None if escaped in _SAFE_ESCAPES else f"the escape \\{escaped} is read differently by JavaScript and Python"
    if content is not None:
        if not content:
            return "an empty class"
        if re.search(r"(?<!\\)(?:\\\\)*\[", content):
            return "an unescaped [ inside a class"
        inner = [e for e in re.findall(r"\\(.)", content) if e not in _SAFE_ESCAPES]
        if inner:
            return f"the escape \\{inner[0]} is read differently by JavaScript and Python"
        return _UNITS if negated and (following is None or following not in "*+") else None
    if char in ".$":
        return f"'{char}' matches differently (line terminators) in JavaScript and Python"
    if char in "{}[]":
        return f"an unescaped {char} (counted repetition, an unterminated class, or a literal the dialects read differently)"
    if char == "(" and after[:1] == "?" and after != "?:":
        return "a group other than ( and (?: (lookaround, named groups and inline flags differ)"
    return None


def regex_literal(regex: str) -> str:
    """A JSONata regex literal (`/.../`) for `regex` (already checked). JSONata's lexer ends a regex at the first
    unescaped `/` outside brackets, which it counts unless a backslash precedes them; so every escaped backslash
    is written `\\x5c`, brackets and `/` inside a class are escaped, `/` is escaped, and line breaks and tabs are
    written as escapes: the same regex, which the lexer then reads to its real end (checked)."""
    body = "".join(_literal_token(t) for t in _REGEX_TOKEN.finditer(regex))
    depth = 0
    for i, c in enumerate(body):
        if c in "([{)]}" and not (i > 0 and body[i - 1] == "\\"):
            depth += 1 if c in "([{" else -1
        if depth < 0 or (c == "/" and depth == 0 and body[i - 1 : i] != "\\"):
            break
    else:
        if depth == 0:
            return f"/{body}/"
    raise refuse(f"JSONata's lexer would misread the regular expression {regex!r}")


_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _literal_token(token: re.Match) -> str:
    escaped, negated, content, char = token.groups()
    if escaped is not None:
        return "\\x5c" if escaped == "\\" else "\\" + _CONTROL.get(escaped, escaped).lstrip("\\")
    if content is not None:
        parts = re.findall(r"\\.|.", content, re.S)
        inner = "".join(_literal_token(_REGEX_TOKEN.match(p)) if len(p) == 2 else ("\\" + p if p in "()[]{}/" else _CONTROL.get(p, p)) for p in parts)
        return f"[{negated}{inner}]"
    return "\\/" if char == "/" else _CONTROL.get(char, char)


# ---- from Sigma ---------------------------------------------------------------------------------------------


class _Fields:
    """The distinct field paths of a condition, each bound once to a variable ($f0, $f1, ...)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def var(self, name: str) -> str:
        if name not in self.names:
            self.names[name] = f"$f{len(self.names)}"
        return self.names[name]

    def bindings(self) -> str:
        out = []
        for name, var in self.names.items():
            expr = "$d"
            for part in name.split("."):
                expr = f"$get({expr}, {literal(part)})"
            out.append(f"{var} := {expr}")
        return "; ".join(out)


def condition(cond: Any) -> str:
    """The JSONata expression (without Step Functions' `{% %}`) that is true exactly where `cond` matches."""
    fields = _Fields()
    body = _convert(cond, fields)
    bindings = fields.bindings()
    return f"({PRELUDE}; {bindings + '; ' if bindings else ''}{body})"


def _convert(cond: Any, fields: _Fields) -> str:
    if isinstance(cond, ConditionNOT):
        return f"$not({_convert(cond.args[0], fields)})"
    if isinstance(cond, (ConditionAND, ConditionOR)):
        op = " and " if isinstance(cond, ConditionAND) else " or "
        return "(" + op.join(_convert(a, fields) for a in cond.args) + ")"
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        if isinstance(cond.value, SigmaExpansion):
            return "(" + " or ".join(_leaf(cond.field, v, fields, cond) for v in cond.value.values) + ")"
        return _leaf(cond.field, cond.value, fields, cond)
    if isinstance(cond, ConditionValueExpression):
        raise refuse(f"keywords ({str(cond.value)!r}) cannot be expressed: the state machine matches named fields only", cond)
    raise refuse(f"condition element {type(cond).__name__} cannot be expressed", cond)


def _leaf(name: str, value: Any, fields: _Fields, cond: Any) -> str:
    if any(not p for p in name.split(".")):
        raise refuse(f"field name {name!r} has an empty part", cond)
    v = fields.var(name)
    if isinstance(value, SigmaString):
        return _string(name, v, value, cond)
    if isinstance(value, (SigmaNull, SigmaExists)):
        present = isinstance(value, SigmaExists) and bool(value)
        absent = f'($type({v}) = "null" or $not($exists({v})))'
        return f"$not({absent})" if present else absent
    if isinstance(value, SigmaBool):
        text = "true" if value.boolean else "false"
        return f'($fold($text({v})) = "{text}" or ($type({v}) = "number" and {v} = {int(value.boolean)}))'
    if isinstance(value, SigmaNumber):
        return f'($type({v}) = "number" and {v} = {json.dumps(value.number)})'
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise refuse(f"{name}|fieldref with startswith/endswith has no state machine form here", cond)
        return f"$same({v}, {fields.var(value.field)})"
    if isinstance(value, SigmaRegularExpression):
        if value.flags:
            raise refuse(f"{name}|re: regular expression flags are read differently by JavaScript and Python", cond)
        regex = str(value.regexp)
        problem = regex_problem(regex)
        if problem:
            raise refuse(f"{name}|re: {problem}", cond)
        return f"$contains($text({v}), {regex_literal(regex)}) = true"
    raise refuse(f"values of type {type(value).__name__} ({name}) cannot be expressed in the state machine", cond)


def _string(name: str, v: str, value: SigmaString, cond: Any) -> str:
    if value.contains_placeholder():
        raise refuse(f"{name}: unresolved placeholder in {str(value)!r}", cond)
    parts = list(value.s)
    if SpecialChars.WILDCARD_SINGLE in parts:
        raise refuse(f"{name}: the single-character wildcard '?' has no exact state machine form", cond)
    cased = isinstance(value, SigmaCasedString)
    subject = f"$text({v})" if cased else f"$fold($text({v}))"
    if all(isinstance(p, str) for p in parts):
        text = "".join(parts)
        return f"{subject} = {literal(text if cased else fold(text))}"
    pieces = []
    for p in parts:
        if p == SpecialChars.WILDCARD_MULTI:
            pieces.append("[\\s\\S]*")
        else:
            text = p if cased else fold(p)
            pieces.append("".join(_regex_char(c) for c in text))
    return f"$contains({subject}, {regex_literal('^' + ''.join(pieces) + '$')}) = true"


def _regex_char(c: str) -> str:
    """One literal character in a JavaScript regex: a backslash as \\x5c (never before a bracket, see
    `regex_literal`), other punctuation escaped, printable ASCII as itself, anything else as \\uXXXX (UTF-16 units,
    which is what a regex without the `u` flag matches)."""
    if c == "\\":
        return "\\x5c"
    if c in _REGEX_META:
        return "\\" + c
    if 32 <= ord(c) < 127:
        return c
    data = c.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(data[i:i + 2], 'big'):04x}" for i in range(0, len(data), 2))
