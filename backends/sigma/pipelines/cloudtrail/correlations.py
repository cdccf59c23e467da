"""Ordered temporal correlations that a pipeline writes itself, for the Splunk and Elastic EQL targets.

Neither pysigma-backend-splunk 2.1.0 nor pySigma-backend-elasticsearch 2.1.1 converts a `temporal_ordered`
correlation with an extended condition (Sigma correlation specification, "Extended conditions"): both raise
NotImplementedError before any postprocessing could write the query. A pipeline that can write one hands
the backend a stand-in: the rule becomes an event_count of the same rules whose condition is an `OrderedStandIn`
(`event_count >= 1`, a template every backend has), which carries the correlation's own type, condition and steps
as its fields. In postprocessing the pipeline puts them back (`restore`), discards the stand-in's query and writes
the ordered one from the rules' conversion results; a rule whose condition is an `OrderedStandIn` is therefore
always one being converted through a stand-in, and nothing about it is stored outside the rule's own condition.

What is written is two steps: an event of one of the first step's rules, then, strictly later and within the
timespan, an event of one of the second step's rules, in the same group. That is `rules: [a, b]` with the
default condition (both, in that order), or an extended condition `(a or ...) and (b or ...)` whose first
step's rules are listed before the second's; for these, pySigma's own semantics (the SQLite backend's
ordered plan: for some window, the first step's earliest event, then a later second-step event) reduce to
"a first-step event at t1 and a second-step event at t2 with t1 < t2 <= t1 + timespan".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

TWO_STEPS = (
    "an ordered temporal correlation is supported with two steps: `rules: [a, b]`, or an extended condition "
    "`(a or ...) and (b or ...)` whose first step's rules are listed before the second's"
)


class NotTwoSteps(ValueError):
    """The correlation is not an ordered sequence of two steps (TWO_STEPS says what is)."""


def _references(node) -> list[str]:
    if isinstance(node, SigmaRuleReference):
        return [node.reference]
    if isinstance(node, CorrelationConditionOR):
        return [r for arg in node.args for r in _references(arg)]
    raise NotTwoSteps(TWO_STEPS)


def ordered_steps(rule: SigmaCorrelationRule) -> list[list[int]]:
    """The two steps of an ordered temporal correlation, as indexes into its rules list; NotTwoSteps otherwise."""
    refs = [r.reference for r in rule.rules or []]
    condition = rule.condition
    if isinstance(condition, SigmaExtendedCorrelationCondition):
        node = condition.parsed
        if not isinstance(node, CorrelationConditionAND) or len(node.args) != 2:
            raise NotTwoSteps(TWO_STEPS)
        names = [_references(arg) for arg in node.args]
    elif getattr(condition, "op", None) == SigmaCorrelationConditionOperator.GTE and len(refs) == 2 and condition.count == 2:
        names = [[refs[0]], [refs[1]]]
    else:
        raise NotTwoSteps(TWO_STEPS)
    steps = [[refs.index(n) for n in step if n in refs] for step in names]
    if sorted(i for step in steps for i in step) != list(range(len(refs))) or max(steps[0]) > min(steps[1]):
        raise NotTwoSteps(TWO_STEPS)
    return steps


@dataclass
class OrderedStandIn(SigmaCorrelationCondition):
    """`event_count >= 1`: the condition an ordered temporal correlation is converted under, holding the correlation's
    own type (`ordered_type`), condition (`ordered_condition`) and steps (`steps`: indexes into its rules, `ordered_steps`)."""

    ordered_type: SigmaCorrelationType = SigmaCorrelationType.TEMPORAL_ORDERED
    ordered_condition: SigmaCorrelationCondition | SigmaExtendedCorrelationCondition | None = None
    steps: list[list[int]] = field(default_factory=list)


def stand_in(rule: SigmaCorrelationRule) -> None:
    """Make the rule an event_count of the same rules, its own type, condition and steps kept in the condition."""
    steps = ordered_steps(rule)
    rule.condition = OrderedStandIn(
        SigmaCorrelationConditionOperator.GTE,
        1,
        ordered_type=rule.type,
        ordered_condition=rule.condition,
        steps=steps,
        source=getattr(rule.condition, "source", None),
    )
    rule.type = SigmaCorrelationType.EVENT_COUNT


def restore(rule: SigmaCorrelationRule) -> list[list[int]] | None:
    """Put back the rule's own type and condition; its steps, or None if it was not converted through a stand-in."""
    stand = rule.condition
    if not isinstance(stand, OrderedStandIn):
        return None
    rule.type, rule.condition = stand.ordered_type, stand.ordered_condition
    return stand.steps
