"""CloudTrail processing pipelines, one per target, registered for sigma-cli."""

from .athena import athena_cloudtrail_pipeline, cloudtrail_lake_cloudtrail_pipeline
from .cloudwatch import cloudwatch_cloudtrail_pipeline
from .ecs import ecs_cloudtrail_pipeline
from .eventbridge import eventbridge_cloudtrail_pipeline
from .splunk import splunk_cloudtrail_pipeline

pipelines = {
    "cloudwatch_cloudtrail": cloudwatch_cloudtrail_pipeline,
    "splunk_cloudtrail": splunk_cloudtrail_pipeline,
    "ecs_cloudtrail": ecs_cloudtrail_pipeline,
    "eventbridge_cloudtrail": eventbridge_cloudtrail_pipeline,
    "athena_cloudtrail": athena_cloudtrail_pipeline,
    "cloudtrail_lake_cloudtrail": cloudtrail_lake_cloudtrail_pipeline,
}
