"""Processing items shared by every CloudTrail pipeline: the rule must be a CloudTrail rule, and every
field it names must exist in CloudTrail records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem
from sigma.processing.transformations import PreprocessingTransformation, RuleFailureTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from .schema import is_cloudtrail_field


def cloudtrail_logsource() -> LogsourceCondition:
    """A fresh condition each time: pySigma binds a condition to the one pipeline that holds it."""
    return LogsourceCondition(product="aws", service="cloudtrail")


def detection_fields(rule: SigmaRule) -> list[str]:
    """Every field name a rule's detections use, including `fieldref` targets, in rule order."""
    names: list[str] = []

    def walk(detection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                walk(item)
            elif isinstance(item, SigmaDetectionItem):
                if item.field is not None:
                    names.append(item.field)
                for value in item.value:
                    ref = getattr(value, "field", None)
                    if isinstance(ref, str) and type(value).__name__ == "SigmaFieldReference":
                        names.append(ref)

    for detection in rule.detection.detections.values():
        walk(detection)
    return names


@dataclass
class RejectUnknownFieldsTransformation(PreprocessingTransformation):
    """Fail the rule, naming the field, when it uses a field that `accepts` does not know.

    Runs before any field mapping, on the rule's CloudTrail field names. `target` names the pipeline
    in the message so a user knows which artifact could not be built.
    """

    target: str = ""
    accepts: Callable[[str], bool] = is_cloudtrail_field

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        unknown = sorted({name for name in detection_fields(rule) if not self.accepts(name)})
        if unknown:
            raise SigmaTransformationError(
                f"{self.target}: field(s) {', '.join(unknown)} do not exist in CloudTrail records "
                "for this target; use CloudTrail's field names (e.g. userIdentity.arn, "
                "requestParameters.userName) or extend the target's field mapping",
                source=rule.source,
            )


def cloudtrail_rules_only(target: str) -> ProcessingItem:
    """Refuse rules for other log sources: this pipeline only knows CloudTrail's schema."""
    return ProcessingItem(
        identifier=f"{target}_cloudtrail_logsource_only",
        transformation=RuleFailureTransformation(
            f"{target}: this pipeline converts only rules with logsource product: aws, service: cloudtrail"
        ),
        rule_conditions=[cloudtrail_logsource()],
        rule_condition_negation=True,
    )


def reject_unknown_fields(target: str, accepts: Callable[[str], bool] = is_cloudtrail_field) -> ProcessingItem:
    return ProcessingItem(
        identifier=f"{target}_reject_unknown_fields",
        transformation=RejectUnknownFieldsTransformation(target=target, accepts=accepts),
    )
