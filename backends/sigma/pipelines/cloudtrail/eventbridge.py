"""CloudTrail processing pipeline for the eventbridge target (CloudTrail events on an EventBridge event bus).

The record is the event's `detail`, with CloudTrail's own field names and JSON types. Besides the items every
CloudTrail pipeline shares (CloudTrail rules only, CloudTrail field names only), the schema's facts the
EventBridge backend relies on:

* `CANONICAL_CASE` (schema.py): on `eventSource` and `eventName` as AWS spells them, an exact, case-sensitive
  matcher means what Sigma's case-insensitive comparison means; those values become `SigmaCasedString`s (the
  cloudwatch pipeline's transformation), which the backend matches exactly (and with `wildcard`, which has no
  case-insensitive form).
* `JSON_CONTAINER_FIELDS` (schema.py): EventBridge's matchers apply to leaf values only ("Comparison operators
  only work on leaf nodes", "Comparison operators for use in event patterns in Amazon EventBridge",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html), and `exists: false`
  even holds for a field that is an object (Event Ruler README, "Exists matching"); a rule on a whole object
  would mean something else, so it is refused.
* Request parameters that are JSON arrays (schema.py's excerpt of AWS's API models): EventBridge matches a
  field against every element of an array ("If the value in the event is an array, then the event pattern
  matches if the intersection of the event pattern array and the event array is non-empty", "Arrays in Amazon
  EventBridge event patterns"), where Sigma and the reference engine compare the field's whole value; and a
  pattern cannot name one element by its position. Either way the rule would mean something else: refused.

The pipeline serves the `eventbridge` backend only (`allowed_backends`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import IncludeFieldCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaRule

from .arrays import problems, rule_event_sources
from .cloudwatch import CanonicalCaseTransformation
from .common import cloudtrail_rules_only, detection_fields, reject_unknown_fields
from .schema import CANONICAL_CASE, JSON_CONTAINER_FIELDS

TARGET = "eventbridge_cloudtrail"


@dataclass
class RejectLeaflessFieldsTransformation(PreprocessingTransformation):
    """Fail a rule that matches on a JSON object or array of the record, or on a request-parameter array."""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        fields = detection_fields(rule)
        containers = sorted({f for f in fields if f in JSON_CONTAINER_FIELDS})
        if containers:
            raise SigmaTransformationError(
                f"{TARGET}: field(s) {', '.join(containers)} hold a JSON object or array in CloudTrail records; "
                "EventBridge matches leaf values only, so name the leaf field instead (e.g. requestParameters.userName)",
                source=rule.source,
            )
        found = problems(fields, rule_event_sources(rule))
        if found:
            reasons = "; ".join(dict.fromkeys(f"{p.field}: {p.where} is an array in {p.source} requests" for p in found))
            raise SigmaTransformationError(
                f"{TARGET}: {reasons}. EventBridge matches a pattern against every element of an array (any "
                "element), where Sigma compares the field's whole value, and a pattern cannot name an element by "
                "its position",
                source=rule.source,
            )


def _reject_leafless_fields() -> ProcessingItem:
    return ProcessingItem(identifier=f"{TARGET}_reject_leafless_fields", transformation=RejectLeaflessFieldsTransformation())


def eventbridge_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for eventbridge",
        priority=20,
        allowed_backends=frozenset({"eventbridge"}),
        items=[
            cloudtrail_rules_only(TARGET),
            reject_unknown_fields(TARGET),
            _reject_leafless_fields(),
            *[
                ProcessingItem(
                    identifier=f"{TARGET}_canonical_case_{name}",
                    transformation=CanonicalCaseTransformation(case_rule=case_rule),
                    field_name_conditions=[IncludeFieldCondition(fields=[name])],
                )
                for name, case_rule in CANONICAL_CASE.items()
            ],
        ],
    )

