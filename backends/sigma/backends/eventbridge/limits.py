"""AWS's documented limits on EventBridge rules and event patterns, stated once; output past one is refused.

* Event pattern size: "Event pattern size: 2048 characters", a quota adjustable up to 4096 (Amazon EventBridge
  quotas, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html); PutRule's `EventPattern`
  member has "Maximum length of 4096" (API reference and botocore's `events` model, which the tests read).
  `EVENT_PATTERN_MAX_LENGTH` is the default quota, so a shipped pattern deploys in any account;
  `max_pattern_length` (backend option) raises it up to `EVENT_PATTERN_API_MAX_LENGTH` for accounts with the
  increase.
* `$or`: Event Ruler (the matching library of EventBridge, https://github.com/aws/event-ruler, README "The $or
  Primitive") reads `$or` as OR only with an array of 2 or more objects, and otherwise as a field named `$or`;
  EventBridge rejects a pattern whose `$or` alternatives expand to more than 1000 combinations ("Content
  filtering in Amazon EventBridge event patterns", `$or` matching:
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html).
* Wildcards: "consecutive wildcard characters are not allowed"; a backslash escapes only `*` and `\\` (Event
  Ruler README, "Wildcard matching").
* Numeric matching "only work[s] with values that are JSON numbers" and "is limited to value between -5.0e9 and
  +5.0e9 inclusive, with 15 digits of precision, that is to say 6 digits to the right of the decimal point"
  (Event Ruler README, "Numeric matching").
* PutRule `Name` 1-64 characters of `[\\.\\-_A-Za-z0-9]`, `Description` at most 512 characters (botocore `events`
  model); a target's `InputTransformer.InputPathsMap` at most 100 entries and `InputTemplate` 1-8192 characters
  (PutTargets API reference, InputTransformer).
"""

from __future__ import annotations

import re

EVENT_PATTERN_MAX_LENGTH = 2_048
EVENT_PATTERN_API_MAX_LENGTH = 4_096
OR_COMBINATIONS_MAX = 1_000
OR_MIN_ALTERNATIVES = 2
NUMERIC_MAX_ABS = 5.0e9
NUMERIC_MAX_DECIMALS = 6
RULE_NAME_MAX_LENGTH = 64
RULE_NAME_PATTERN = re.compile(r"[\.\-_A-Za-z0-9]+")
RULE_DESCRIPTION_MAX_LENGTH = 512
INPUT_PATHS_MAX = 100
INPUT_TEMPLATE_MAX_LENGTH = 8_192
