"""AWS's documented limits on what the CloudWatch backend and the pack's CloudWatch artifacts emit, stated once.

Output past a limit is refused with an error that says which. Sources (the API references and botocore's service
models `logs-2014-03-28` and `monitoring-2010-08-01`; the tests compare every number with botocore):

* StartQuery `queryString`: "Length Constraints: Minimum length of 0. Maximum length of 10000."
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html
* PutQueryDefinition `queryString` 1-10000 characters, `name` 1-255 characters, `logGroupNames` items 1-512
  characters matching ``[\\.\\-_/#A-Za-z0-9]+``.
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutQueryDefinition.html
* PutMetricFilter `filterPattern`: "Maximum length of 1024".
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutMetricFilter.html
* Filter patterns: "a quota of two regular expression patterns within a single filter pattern" and five per log
  group (PutMetricFilter; FilterAndPatternSyntax "Supported regular expressions (regex) syntax"). This backend
  emits no `%regex%` terms, so the quota cannot be exceeded; it is recorded here for completeness.
* PutMetricAlarm `AlarmDescription`: 0-1024 characters. `Period`: "An alarm's total current evaluation period can
  be no longer than seven days, so Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For
  alarms with a period of less than one hour (3,600 seconds), the total evaluation period can't be longer than one
  day (86,400 seconds)." `DatapointsToAlarm` is the M of an "M out of N" alarm whose N is `EvaluationPeriods`.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
* CloudFormation template `Description`: at most 1,024 bytes (CloudFormation quotas, "Template description").
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html

AWS documents no cap on the number of `&&`/`||` conditions in a JSON filter pattern (FilterAndPatternSyntax,
"Using filter patterns to match terms in JSON log events"); the 1,024-character limit is what bounds them, and
`FILTER_PATTERN_MAX_LENGTH` is checked for every pattern.
"""

from __future__ import annotations

import re

QUERY_STRING_MAX_LENGTH = 10_000
QUERY_DEFINITION_NAME_MAX_LENGTH = 255
LOG_GROUP_NAME_MAX_LENGTH = 512
LOG_GROUP_NAME_PATTERN = re.compile(r"[\.\-_/#A-Za-z0-9]+")
FILTER_PATTERN_MAX_LENGTH = 1_024
FILTER_PATTERN_MAX_REGEX_TERMS = 2

ALARM_DESCRIPTION_MAX_LENGTH = 1_024
ALARM_EVALUATION_MAX_SECONDS = 604_800  # Period x EvaluationPeriods, periods of one hour or more
ALARM_SHORT_PERIOD_SECONDS = 3_600  # periods shorter than this ...
ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS = 86_400  # ... may evaluate at most one day
TEMPLATE_DESCRIPTION_MAX_LENGTH = 1_024


def max_evaluation_seconds(period: int) -> int:
    """The longest Period x EvaluationPeriods PutMetricAlarm accepts with `period` (seconds)."""
    return ALARM_SHORT_PERIOD_EVALUATION_MAX_SECONDS if period < ALARM_SHORT_PERIOD_SECONDS else ALARM_EVALUATION_MAX_SECONDS


def max_evaluation_periods(period: int) -> int:
    """The largest EvaluationPeriods PutMetricAlarm accepts with `period` (seconds)."""
    return max_evaluation_seconds(period) // period
