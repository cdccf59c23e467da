"""Which records can a rule possibly match? The event names it requires, read off its condition.

Almost every CloudTrail rule pins `eventName`. If every way a rule's condition can be true requires
`eventName` to equal one of a few values, a record with another event name cannot match, and `scan`
need not parse it. The derivation is conservative: anything it cannot prove (NOT, wildcards, regex,
keywords, other fields) yields None, meaning "this rule must see every record".
"""

from __future__ import annotations

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import SigmaString

KEY_FIELD = "eventName"


def required_event_names(rule: SigmaRule) -> frozenset[str] | None:
    """Lower-cased event names one of which every match has; None if the rule can match any record."""
    names: set[str] = set()
    for condition in rule.detection.parsed_condition:
        found = _names(condition.parsed)
        if found is None:
            return None
        names |= found
    return frozenset(names)


def _names(node) -> frozenset[str] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if node.field == KEY_FIELD and isinstance(value, SigmaString) and not value.contains_special():
            return frozenset({str(value).lower()})
        return None
    if isinstance(node, ConditionAND):
        known = [n for n in map(_names, node.args) if n is not None]
        return frozenset.intersection(*known) if known else None
    if isinstance(node, ConditionOR):
        parts = [_names(arg) for arg in node.args]
        return None if any(p is None for p in parts) else frozenset().union(*parts)
    if isinstance(node, ConditionNOT):
        return None
    return None  # keywords, and anything new to pySigma: no claim


def pack_event_names(rules) -> frozenset[str] | None:
    """The union over detection rules (correlations only count what their rules match)."""
    names: set[str] = set()
    for rule in rules:
        if isinstance(rule, SigmaCorrelationRule):
            continue
        found = required_event_names(rule)
        if found is None:
            return None
        names |= found
    return frozenset(names)
