"""CloudWatch Logs metric filter patterns for JSON events, generated from a Sigma rule's condition.

Syntax and semantics (FilterAndPatternSyntax, "Using filter patterns to match terms in JSON log events"):

* `{ SELECTOR OPERATOR VALUE }`; selectors start at `$`, name properties with letters, digits, `-` and `_`, and
  array elements with `[N]` (`$.resources[0].ARN`). "The SELECTOR must point to a value node (string or number)".
* Strings are compared with `=`/`!=`, exactly and case-sensitively ("Metric filters are case sensitive"); `*` is a
  wildcard only "at, before, or after a search term" - "Ev*ent will only match the actual string Ev*ent".
* Numbers with `=`, `!=`, `<`, `<=`, `>`, `>=`; `IS TRUE` / `IS FALSE`; `IS NULL` ("only true if the specified object
  is set to null") and `NOT EXISTS`; `= *` for "the field exists" (the AWS CDK's `FilterPattern.exists`).
* `&&` and `||` with parentheses ("() > && > ||"); there is no NOT, so negations are pushed down to the comparisons.
  A negated comparison also matches events where the field is absent or null, as Sigma's `not` does: `!=` alone is
  only applied to value nodes.
* Quoted strings escape `\\` and `"` with a backslash, as the AWS CDK's `quoteTerm` does.

Refused, with the reason: case-insensitive matches (a value with letters on a field that is not canonical-case and
not `|cased`), regular expressions, CIDR, field references, keywords (free text has no place in a JSON pattern),
`?` wildcards and `*` inside a value, negated numeric comparisons and booleans, and patterns over
`FILTER_PATTERN_MAX_LENGTH` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from .limits import FILTER_PATTERN_MAX_LENGTH
from .literals import check_no_placeholders, needs_case_folding
from .regex import is_control

_SELECTOR_PART = re.compile(r"[A-Za-z0-9_-]+")
_COMPARE = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
}


@dataclass(frozen=True)
class _Junction:
    op: str  # "&&" or "||"
    args: tuple["_Node", ...]


_Node = Union[str, _Junction]


class MetricFilterError(SigmaFeatureNotSupportedByBackendError):
    """A rule that the metric filter pattern language cannot express."""


def _refuse(reason: str, cond=None) -> MetricFilterError:
    return MetricFilterError(f"metric filter pattern: {reason}", source=getattr(cond, "source", None))


def selector(field: str) -> str:
    """`requestParameters.userName` -> `$.requestParameters.userName`, `resources.0.ARN` -> `$.resources[0].ARN`."""
    out = "$"
    for i, part in enumerate(field.split(".")):
        if part.isdigit() and i > 0:
            out += f"[{part}]"
        elif _SELECTOR_PART.fullmatch(part):
            out += "." + part
        else:
            raise _refuse(
                f"field {field!r} cannot be written as a JSON selector (properties may only hold letters, digits, "
                "'-' and '_')"
            )
    return out


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_term(field: str, value: SigmaString, cond) -> str:
    """The quoted value (with its leading/trailing `*`) for a case-sensitive string match, or a refusal."""
    check_no_placeholders(value)
    if needs_case_folding(value):
        raise _refuse(
            f"Sigma matches {field} = {str(value)!r} case-insensitively but filter patterns are case-sensitive; "
            "only canonical-case fields (see the cloudwatch_cloudtrail pipeline) and |cased values can be matched. "
            "Use the Logs Insights query instead",
            cond,
        )
    parts = list(value.s)
    lead = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
    while parts and parts[0] == SpecialChars.WILDCARD_MULTI:
        parts.pop(0)
    trail = bool(parts) and parts[-1] == SpecialChars.WILDCARD_MULTI
    while parts and parts[-1] == SpecialChars.WILDCARD_MULTI:
        parts.pop()
    if any(not isinstance(p, str) for p in parts):
        kind = "'?' wildcards" if SpecialChars.WILDCARD_SINGLE in parts else "'*' inside a value"
        raise _refuse(f"{kind} cannot be expressed ({field} = {str(value)!r}): '*' is a wildcard only at the ends", cond)
    text = "".join(parts)  # type: ignore[arg-type]
    if not text:
        return "*" if lead or trail else '""'
    if text.startswith("*") or text.endswith("*"):
        raise _refuse(f"a literal '*' at the start or end of {str(value)!r} would be read as a wildcard", cond)
    if any(is_control(c) for c in text):
        raise _refuse(f"{str(value)!r} holds control characters, which filter patterns have no escape for", cond)
    quoted = quote(text)
    return ('"*' if lead else '"') + quoted[1:-1] + ('*"' if trail else '"')


def _absent(sel: str) -> list[_Node]:
    return [f"{sel} NOT EXISTS", f"{sel} IS NULL"]


def _negated_comparison(sel: str, op_text: str) -> _Node:
    """Sigma's `not (field = x)`: the field differs, or is absent or null."""
    return _Junction("||", (f"{sel} != {op_text}", *_absent(sel)))


def convert_field(cond: ConditionFieldEqualsValueExpression, negated: bool) -> _Node:
    field, value = cond.field, cond.value
    sel = selector(field)
    if isinstance(value, SigmaExpansion):
        leaves = [convert_field(ConditionFieldEqualsValueExpression(field, v), negated) for v in value.values]
        return _Junction("&&" if negated else "||", tuple(leaves))
    if isinstance(value, SigmaString):
        term = string_term(field, value, cond)
        return _negated_comparison(sel, term) if negated else f"{sel} = {term}"
    if isinstance(value, SigmaTimestampPart):
        raise _refuse("timestamp part modifiers (|minute, |hour, ...) cannot be expressed", cond)
    if isinstance(value, SigmaNumber):
        return _negated_comparison(sel, str(value)) if negated else f"{sel} = {value}"
    if isinstance(value, SigmaBool):
        if negated:
            raise _refuse(f"a negated boolean ({field}) cannot be expressed: IS FALSE does not match absent fields", cond)
        return f"{sel} IS {'TRUE' if value.boolean else 'FALSE'}"
    if isinstance(value, SigmaNull):
        return f"{sel} = *" if negated else _Junction("||", tuple(_absent(sel)))
    if isinstance(value, SigmaExists):
        exists = bool(value) != negated
        return f"{sel} = *" if exists else f"{sel} NOT EXISTS"
    if isinstance(value, SigmaCompareExpression):
        if negated:
            raise _refuse(f"a negated numeric comparison on {field} cannot be expressed exactly", cond)
        return f"{sel} {_COMPARE[value.op]} {value.number}"
    if isinstance(value, SigmaRegularExpression):
        raise _refuse(
            f"regular expressions ({field}|re) are not converted: filter-pattern regex is a small subset of PCRE "
            "(no groups, no flags) with a quota of two per pattern and five per log group",
            cond,
        )
    if isinstance(value, SigmaCIDRExpression):
        raise _refuse(f"CIDR matching ({field}|cidr) has no filter pattern operator", cond)
    if isinstance(value, SigmaFieldReference):
        raise _refuse(f"field references ({field}|fieldref) cannot be expressed: a pattern compares with constants", cond)
    raise _refuse(f"values of type {type(value).__name__} ({field}) cannot be expressed", cond)


def convert(cond: ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression, negated: bool = False) -> _Node:
    if isinstance(cond, ConditionNOT):
        return convert(cond.args[0], not negated)
    if isinstance(cond, (ConditionAND, ConditionOR)):
        is_and = isinstance(cond, ConditionAND) != negated  # De Morgan
        args = tuple(convert(arg, negated) for arg in cond.args)
        return _Junction("&&" if is_and else "||", args) if len(args) > 1 else args[0]
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return convert_field(cond, negated)
    if isinstance(cond, ConditionValueExpression):
        raise _refuse(
            f"keywords ({str(cond.value)!r}) cannot be expressed in a JSON filter pattern, which only compares fields",
            cond,
        )
    raise _refuse(f"condition element {type(cond).__name__} cannot be expressed", cond)


def render(node: _Node) -> str:
    if isinstance(node, str):
        return node
    return f" {node.op} ".join(f"({render(arg)})" for arg in _operands(node, node.op))


def _operands(node: _Node, op: str) -> list[_Node]:
    """The operands of a chain of one operator, nested chains of the same operator flattened (it is associative)."""
    if isinstance(node, _Junction) and node.op == op:
        return [leaf for arg in node.args for leaf in _operands(arg, op)]
    return [node]


def _field_reference(cond) -> ConditionFieldEqualsValueExpression | None:
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return cond if isinstance(cond.value, SigmaFieldReference) else None
    return next((r for arg in getattr(cond, "args", []) if (r := _field_reference(arg)) is not None), None)


def filter_pattern(cond) -> str:
    """The complete `{ ... }` pattern for a parsed Sigma condition, within AWS's length limit. A field reference
    is refused first, whatever else the condition holds: no pattern can ever compare two fields."""
    if (ref := _field_reference(cond)) is not None:
        raise _refuse(f"field references ({ref.field}|fieldref) cannot be expressed: a pattern compares with constants", ref)
    pattern = "{ " + render(convert(cond)) + " }"
    if len(pattern) > FILTER_PATTERN_MAX_LENGTH:
        raise _refuse(
            f"the pattern is {len(pattern)} characters; PutMetricFilter accepts at most {FILTER_PATTERN_MAX_LENGTH} "
            "(filterPattern length constraint). Split the rule or use the Logs Insights query",
            cond,
        )
    return pattern


def with_outcome(pattern: str, failed: bool) -> str:
    """A rule's pattern narrowed to failed calls (Sigma `errorCode|exists: true`) or successful ones (`errorCode:
    null`), written as this module writes those conditions: `$.errorCode = *`, or NOT EXISTS / IS NULL. The two
    patterns split the rule's matches exactly, so one alarm per outcome can say which it was (CloudTrail writes
    errorCode, with errorMessage, only for a call that failed: record contents reference)."""
    if not (pattern.startswith("{ ") and pattern.endswith(" }")):
        raise ValueError(f"not a filter pattern of this module: {pattern!r}")
    errorcode = ConditionFieldEqualsValueExpression("errorCode", SigmaExists(True) if failed else SigmaNull())
    outcome = _Junction("&&", (pattern[2:-2], convert(errorcode)))
    narrowed = "{ " + render(outcome) + " }"
    if len(narrowed) > FILTER_PATTERN_MAX_LENGTH:
        raise _refuse(f"the pattern with its outcome is {len(narrowed)} characters, over {FILTER_PATTERN_MAX_LENGTH}")
    return narrowed
