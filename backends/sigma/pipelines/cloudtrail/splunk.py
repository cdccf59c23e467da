"""CloudTrail processing pipeline for the splunk target."""

from sigma.processing.pipeline import ProcessingPipeline

from .common import cloudtrail_rules_only, reject_unknown_fields


def splunk_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for splunk",
        priority=20,
        allowed_backends=frozenset(),
        items=[cloudtrail_rules_only("splunk_cloudtrail"), reject_unknown_fields("splunk_cloudtrail")],
    )
