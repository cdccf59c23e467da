"""CloudTrail pipelines for the Trino SQL targets: `athena_cloudtrail` (-t athena) and `cloudtrail_lake_cloudtrail`
(-t cloudtrail_lake).

Where a field is in each table is the backend's knowledge (sigma/backends/athena/tables.py: a field a table lacks
is refused there, naming the documentation page). The pipeline holds what every CloudTrail target checks
(common.py: CloudTrail rules, CloudTrail field names), the schema's canonical-case fields (compared exactly, as
the CloudWatch target does), and the request parameters that are JSON arrays: `json_extract_scalar` (Athena)
and a map's JSON text (Lake) return NULL for an array, so a rule naming one would silently match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import (
    SigmaFeatureNotSupportedByBackendError,
    SigmaTransformationError,
)
from sigma.processing.conditions import IncludeFieldCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import PreprocessingTransformation

from .arrays import fields_and_sources, problems
from .cloudwatch import CanonicalCaseTransformation
from .common import cloudtrail_rules_only, reject_unknown_fields
from .schema import CANONICAL_CASE, is_cloudtrail_field

ATHENA = "athena_cloudtrail"
LAKE = "cloudtrail_lake_cloudtrail"


@dataclass
class RefuseRequestArraysTransformation(PreprocessingTransformation):
    """Refuse a rule that matches on, groups by or counts a request-parameter array (schema.py's excerpt)."""

    target: str = ""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        fields, sources = fields_and_sources(rule)
        if isinstance(rule, SigmaCorrelationRule):
            aliases = {alias.alias for alias in rule.aliases}
            unknown = sorted(f for f in fields if f not in aliases and not is_cloudtrail_field(f))
            if unknown:
                raise SigmaTransformationError(
                    f"{self.target}: correlation field(s) {', '.join(unknown)} do not exist in CloudTrail records; "
                    "use CloudTrail's field names (e.g. userIdentity.arn)",
                    source=rule.source,
                )
        found = [p for p in problems(fields, sources) if p.instead is not None]
        if found:
            field = found[0]
            raise SigmaFeatureNotSupportedByBackendError(
                f"{self.target}: {field.where} is an array in {field.source} requests; json_extract_scalar and "
                "element_at give NULL for an array, and the pack's reference engine does not index one, so no "
                "query on it could be checked",
                source=rule.source,
            )


def _pipeline(target: str, backend: str) -> ProcessingPipeline:
    return ProcessingPipeline(
        name=f"CloudTrail for {backend}",
        priority=20,
        allowed_backends=frozenset({backend}),
        items=[
            cloudtrail_rules_only(target),
            reject_unknown_fields(target),
            ProcessingItem(identifier=f"{target}_refuse_request_arrays", transformation=RefuseRequestArraysTransformation(target=target)),
            *(
                ProcessingItem(
                    identifier=f"{target}_canonical_case_{name}",
                    transformation=CanonicalCaseTransformation(case_rule=rule),
                    field_name_conditions=[IncludeFieldCondition(fields=[name])],
                )
                for name, rule in CANONICAL_CASE.items()
            ),
        ],
    )


def athena_cloudtrail_pipeline() -> ProcessingPipeline:
    return _pipeline(ATHENA, "athena")


def cloudtrail_lake_cloudtrail_pipeline() -> ProcessingPipeline:
    return _pipeline(LAKE, "cloudtrail_lake")
