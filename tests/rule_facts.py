"""What a rule is made of, read off its own Sigma detection: the facts tests derive their expectations from,
instead of tables of rule names (a new rule brings its facts with it).

Nothing here comes from the product's tables: the fields the pack matches exactly are the two the README names
(AWS spells API names and service endpoints one way), written down again on purpose.
"""

from __future__ import annotations

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaCasedString, SigmaFieldReference, SigmaRegularExpression, SigmaString

#: Fields whose values CloudTrail writes in one letter case, compared exactly by the case-sensitive targets.
CANONICAL_CASE_FIELDS = frozenset({"eventSource", "eventName"})

#: The constructs a target may be unable to express, as `constructs()` names them.
REGEX, FIELDREF, FOLDED, CORRELATION = "regular expression", "field reference", "case-insensitive value", "correlation"


def detection_items(rule: SigmaRule) -> list[SigmaDetectionItem]:
    """Every detection item of a base rule, in the order written."""
    return [item for detection in rule.detection.detections.values() for item in detection_items_of(detection)]


def detection_items_of(detection: SigmaDetection) -> list[SigmaDetectionItem]:
    out: list[SigmaDetectionItem] = []
    for item in detection.detection_items:
        out += detection_items_of(item) if isinstance(item, SigmaDetection) else [item]
    return out


def _item_constructs(item: SigmaDetectionItem) -> set[str]:
    found = set()
    for value in item.value:
        if isinstance(value, SigmaRegularExpression):
            found.add(REGEX)
        elif isinstance(value, SigmaFieldReference):
            found.add(FIELDREF)
        elif (
            isinstance(value, SigmaString)
            and not isinstance(value, SigmaCasedString)
            and item.field not in CANONICAL_CASE_FIELDS
            and any(c.isalpha() for c in str(value))
        ):
            found.add(FOLDED)
    return found


def counted_rules(pack, pack_rule) -> list:
    """The pack rules a correlation counts (empty for a base rule)."""
    if not pack_rule.is_correlation:
        return []
    return [pack.by_id(str(ref.rule.id)) for ref in pack_rule.rule.rules]


def constructs(pack, pack_rule) -> set[str]:
    """The constructs a rule needs from a target: regular expressions, field references, letters compared
    case-insensitively outside the canonical-case fields, and for a correlation, correlation plus whatever
    the rules it counts need."""
    if pack_rule.is_correlation:
        return {CORRELATION}.union(*(constructs(pack, r) for r in counted_rules(pack, pack_rule)))
    return set().union(*(_item_constructs(i) for i in detection_items(pack_rule.rule)))


def event_calls(rule: SigmaRule | SigmaCorrelationRule) -> set[tuple[str, str]]:
    """(eventSource, eventName) pairs a base rule matches on. A selection naming both pairs its own values (a
    rule may watch two services); selections naming only a source or only names pair with each other."""
    if isinstance(rule, SigmaCorrelationRule):
        return set()
    pairs, lone = set(), {"eventSource": set(), "eventName": set()}
    for detection in rule.detection.detections.values():
        values: dict[str, set[str]] = {"eventSource": set(), "eventName": set()}
        for item in detection_items_of(detection):
            if item.field in values:
                values[item.field] |= {str(v) for v in item.value}
        if values["eventSource"] and values["eventName"]:
            pairs |= {(s, n) for s in values["eventSource"] for n in values["eventName"]}
        else:
            for key in lone:
                lone[key] |= values[key]
    return pairs | {(s, n) for s in lone["eventSource"] for n in lone["eventName"]}


def has_self_service_filter(rule: SigmaRule | SigmaCorrelationRule) -> bool:
    """The credential rules' exclusion of an IAM user acting on itself: requestParameters.userName compared
    with userIdentity.userName (the README's "on another user" rules)."""
    if isinstance(rule, SigmaCorrelationRule):
        return False
    return any(
        item.field == "requestParameters.userName"
        and any(isinstance(v, SigmaFieldReference) and v.field == "userIdentity.userName" for v in item.value)
        for item in detection_items(rule)
    )
