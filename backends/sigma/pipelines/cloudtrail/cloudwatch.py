"""CloudTrail processing pipeline for the cloudwatch target."""

from sigma.processing.pipeline import ProcessingPipeline

from .common import cloudtrail_rules_only, reject_unknown_fields


def cloudwatch_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for cloudwatch",
        priority=20,
        allowed_backends=frozenset(),
        items=[cloudtrail_rules_only("cloudwatch_cloudtrail"), reject_unknown_fields("cloudwatch_cloudtrail")],
    )
