"""Amazon CloudWatch Logs Insights backend (sigma-cli: -t cloudwatch), with metric filter patterns as an output format."""

from .backend import CloudWatchLogsInsightsBackend

backends = {"cloudwatch": CloudWatchLogsInsightsBackend}

__all__ = ["CloudWatchLogsInsightsBackend", "backends"]
