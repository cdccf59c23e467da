"""AWS's documented limits on what this backend emits; output past them is refused with an error that says which.

Sources (the CloudWatch Logs API model, `logs-2014-03-28`, as in the API reference and botocore's service model):

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
