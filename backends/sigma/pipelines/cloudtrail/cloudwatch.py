"""CloudTrail processing pipeline for the cloudwatch target (CloudTrail delivered to a CloudWatch Logs log group).

Besides the two items every CloudTrail pipeline shares (CloudTrail rules only, CloudTrail field names only), it
holds the facts about CloudTrail records that the CloudWatch backend relies on:

* `CANONICAL_CASE` (in schema.py) - which fields have a fixed letter case. Sigma matches strings
  case-insensitively, while Logs Insights `=`/`in`/`like "..."` and metric filter patterns are case-sensitive
  ("Metric filters are case sensitive", FilterAndPatternSyntax; the `like` examples in CWL_QuerySyntax "are case
  sensitive"). On a field whose values always have one spelling, a case-sensitive comparison with the value spelled
  that way means exactly what Sigma means, and it is cheaper (`=`, `in`, field indexes) than a `(?i)` regex. The
  pipeline turns such values into `SigmaCasedString`s; the backend then emits exact comparisons for them and
  case-insensitive regular expressions for every other string with letters in it.
* `JSON_CONTAINER_FIELDS` (in schema.py) - CloudTrail fields that hold a JSON object or array. Logs Insights only discovers leaf
  fields ("represents nested JSON fields using the dot notation ... JSON arrays are flattened", see
  CWL_AnalyzeLogData-discoverable-fields) and a metric filter selector "must point to a value node (string or
  number)", so a match on `requestParameters` itself would silently never match: such rules are refused.
* Request parameters that are JSON arrays (`arrays.py`, from AWS's API models): `requestParameters.layers` names no
  Logs Insights field (arrays flatten to `requestParameters.layers.0`) and no value node for a metric filter, so
  such rules are refused too, naming the element path to write instead.

The pipeline serves the `cloudwatch` backend only (`allowed_backends`): sigma-cli refuses it with another target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import IncludeFieldCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import PreprocessingTransformation, ValueTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaString, SigmaType, SpecialChars

from .arrays import RejectArrayFieldsTransformation
from .common import cloudtrail_rules_only, detection_fields, reject_unknown_fields
from .schema import CANONICAL_CASE, JSON_CONTAINER_FIELDS, CaseRule, is_cloudtrail_field

TARGET = "cloudwatch_cloudtrail"

_API_NAME_PART = re.compile(r"[A-Z][A-Za-z0-9]*")


def is_api_name_spelling(value: SigmaString) -> bool:
    """True if every literal part of `value` is spelled like an AWS API action name (``Delete``, ``User``)."""
    parts = [p for p in value.s if isinstance(p, str)]
    if not parts or any(not isinstance(p, (str, SpecialChars)) for p in value.s):
        return False
    return all(_API_NAME_PART.fullmatch(p) for p in parts)


def canonical_value(case_rule: CaseRule, value: SigmaString) -> SigmaString:
    """The value to compare case-sensitively under `case_rule`, or `value` unchanged if it must stay case-insensitive."""
    if isinstance(value, SigmaCasedString):
        return value  # the rule asked for a case-sensitive match already
    if case_rule == "lower":
        return SigmaCasedString.from_sigma_string(value.lower())
    if case_rule == "api-name" and is_api_name_spelling(value):
        return SigmaCasedString.from_sigma_string(value)
    return value


@dataclass
class CanonicalCaseTransformation(ValueTransformation):
    """Mark string values of a canonical-case field as case-sensitive (see `CANONICAL_CASE`)."""

    case_rule: CaseRule = "lower"

    def apply_value(self, field: str | None, val: SigmaType) -> SigmaType | None:  # type: ignore[override]
        if isinstance(val, SigmaString):
            new = canonical_value(self.case_rule, val)
            return None if new is val else new
        if isinstance(val, SigmaExpansion):  # windash/base64offset alternatives: each one on its own
            values = [self.apply_value(field, v) or v for v in val.values]
            return SigmaExpansion(values)
        return None


def canonical_case_items() -> list[ProcessingItem]:
    return [
        ProcessingItem(
            identifier=f"{TARGET}_canonical_case_{name}",
            transformation=CanonicalCaseTransformation(case_rule=rule),
            field_name_conditions=[IncludeFieldCondition(fields=[name])],
        )
        for name, rule in CANONICAL_CASE.items()
    ]


@dataclass
class RejectContainerFieldsTransformation(PreprocessingTransformation):
    """Fail a rule that matches on a JSON object/array field, or groups/counts a correlation by a non-leaf field."""

    target: str = TARGET
    containers: frozenset[str] = field(default_factory=lambda: JSON_CONTAINER_FIELDS)

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if isinstance(rule, SigmaRule):
            names: Iterable[str] = detection_fields(rule)
        elif isinstance(rule, SigmaCorrelationRule):
            names = self._correlation_fields(rule)
        else:  # pragma: no cover - pySigma has no third kind of rule
            return
        bad = sorted({n for n in names if n in self.containers})
        if bad:
            raise SigmaTransformationError(
                f"{self.target}: field(s) {', '.join(bad)} hold a JSON object or array in CloudTrail records; "
                "CloudWatch Logs Insights discovers only leaf fields (e.g. requestParameters.userName, "
                "resources.0.ARN) and metric filters only compare value nodes, so name the leaf field instead",
                source=rule.source,
            )

    def _correlation_fields(self, rule: SigmaCorrelationRule) -> list[str]:
        names = list(rule.group_by or [])
        aliases = {alias.alias for alias in rule.aliases}
        fieldref = getattr(rule.condition, "fieldref", None)
        names += [fieldref] if isinstance(fieldref, str) else list(fieldref or [])
        unknown = sorted({n for n in names if n not in aliases and not is_cloudtrail_field(n)})
        if unknown:
            raise SigmaTransformationError(
                f"{self.target}: correlation field(s) {', '.join(unknown)} do not exist in CloudTrail records; "
                "use CloudTrail's field names (e.g. userIdentity.arn)",
                source=rule.source,
            )
        return names


def cloudwatch_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for cloudwatch",
        priority=20,
        allowed_backends=frozenset({"cloudwatch"}),
        items=[
            cloudtrail_rules_only(TARGET),
            reject_unknown_fields(TARGET),
            ProcessingItem(identifier=f"{TARGET}_reject_container_fields", transformation=RejectContainerFieldsTransformation()),
            ProcessingItem(
                identifier=f"{TARGET}_reject_array_fields", transformation=RejectArrayFieldsTransformation(target=TARGET)
            ),
            *canonical_case_items(),
        ],
    )
