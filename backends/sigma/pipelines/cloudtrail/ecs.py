"""CloudTrail processing pipeline for the ecs target."""

from sigma.processing.pipeline import ProcessingPipeline

from .common import cloudtrail_rules_only, reject_unknown_fields


def ecs_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for ecs",
        priority=20,
        allowed_backends=frozenset(),
        items=[cloudtrail_rules_only("ecs_cloudtrail"), reject_unknown_fields("ecs_cloudtrail")],
    )
