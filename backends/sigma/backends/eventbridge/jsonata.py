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
* Values from the rule are JSON string literals with every non-ASCII character and `$` escaped (`literal`), and
  `/` is escaped in regular expressions; JSONata's lexer finds a regex's end by counting brackets, which
  `regex_literal` checks it will do right.

Known differences from the reference, none of them reachable by CloudTrail's own records: a value that is a
JSON object or array where the rule compares a leaf (the reference compares its JSON text) never matches; numbers
beyond 2^53 compare as JavaScript doubles.
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


def regex_problem(regex: str) -> str | None:
    """Why `regex` might mean something else in JavaScript than in Python, or None (see the module docstring)."""
    if any(ord(c) > 126 or (ord(c) < 32 and c not in "\t\n\r") for c in regex):
        return "it holds non-ASCII or control characters"
    i, n, in_class, class_start, negated_class_end = 0, len(regex), False, 0, None
    while i < n:
        c = regex[i]
        if c == "\\":
            if i + 1 >= n or regex[i + 1] not in _SAFE_ESCAPES:
                return f"the escape \\{regex[i + 1:i + 2]} is read differently by JavaScript and Python (or not at all)"
            i += 2
            continue
        if in_class:
            if c == "[":
                return "an unescaped [ inside a class"
            if c == "]":
                in_class = False
                negated_class_end = i if regex[class_start + 1 : class_start + 2] == "^" else None
            i += 1
            continue
        if negated_class_end is not None and negated_class_end == i - 1 and c not in "*+":
            return "a negated class not repeated by * or + (JavaScript matches UTF-16 units, Python characters)"
        if c == "[":
            if regex[i + 1 : i + 2] == "]" or regex[i + 1 : i + 3] == "^]":
                return "an empty class"
            in_class, class_start = True, i
        elif c in ".$":
            return f"'{c}' matches differently (line terminators) in JavaScript and Python"
        elif c in "{}]":
            return f"an unescaped {c} (counted repetition, or a literal the two dialects read differently)"
        elif c == "(" and regex[i + 1 : i + 2] == "?" and regex[i + 2 : i + 3] != ":":
            return "a group other than ( and (?: (lookaround, named groups and inline flags differ)"
        i += 1
    if in_class:
        return "an unterminated class"
    if negated_class_end == n - 1:
        return "a negated class not repeated by * or + (JavaScript matches UTF-16 units, Python characters)"
    return None


def regex_literal(regex: str) -> str:
    """A JSONata regex literal (`/.../`) for `regex` (already checked), `/` escaped; refused where JSONata's lexer,
    which ends a regex at the first unescaped `/` outside brackets it counts naively, would end it elsewhere."""
    body = regex.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    body = re.sub(r"(?<!\\)((?:\\\\)*)/", r"\1\\/", body)
    depth = 0
    for i, c in enumerate(body):
        escaped = i > 0 and body[i - 1] == "\\"
        if c in "([{" and not escaped:
            depth += 1
        elif c in ")]}" and not escaped:
            depth -= 1
        if depth < 0:
            raise refuse(f"JSONata's lexer would misread the regular expression {regex!r} (an escaped backslash before a bracket)")
    if depth != 0:
        raise refuse(f"JSONata's lexer would misread the regular expression {regex!r} (an escaped backslash before a bracket)")
    return f"/{body}/"


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
