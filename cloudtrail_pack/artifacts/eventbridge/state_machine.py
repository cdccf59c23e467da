"""The Step Functions Express state machine every EventBridge rule of the pack starts: a Choice state whose JSONata
condition decides on the CloudTrail record exactly as the Sigma rule does (the backend's `state_machine` format,
`sigma.backends.eventbridge.jsonata`), then an SNS publish of a readable alert whose text JSONata builds.

Why a state machine behind every rule, not only behind the four a pattern cannot express (a field compared with
another, a regular expression): the alert text. An input transformer pastes input-path values into its template
unescaped, so a value holding `"` breaks a JSON string template; JSONata builds the text from the event's values,
whatever they hold. One path for every rule, no code to run: QueryLanguage "JSONata" (JSONata 2.0.6, every
built-in function but $eval: https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html), a Choice
rule's `Condition` ("a JSONata expression that evaluates to true/false",
https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html), the optimized SNS integration
`arn:<partition>:states:::sns:publish` with `Arguments` (https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html).
EventBridge starts the Express workflow through a role allowed `states:StartExecution` on it.

The console link names the console of the event's partition by its Region (cn-*: console.amazonaws.cn;
us-gov-*: console.amazonaws-us-gov.com; else console.aws.amazon.com).
"""

from __future__ import annotations

from typing import Any

from sigma.backends.eventbridge.jsonata import literal

#: Retries of the SNS publish inside the state machine (an Express execution is not retried by EventBridge once
#: started).
PUBLISH_RETRY = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2}
#: EventBridge's retry policy on every target (its defaults, written out): then the dead-letter queue.
RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
SNS_SUBJECT_MAX = 99  # "less than 100 characters" (SNS Publish API reference)

_TEXT_HELPERS = (
    "$d := $states.input.detail; "
    '$get := function($o, $k) { $type($o) = "object" ? $lookup($o, $k) : undefined }; '
    '$show := function($v) { $type($v) = "string" ? $v : $exists($v) ? $string($v) : "" }; '
    "$region := $states.input.region; "
    '$host := $substring($region, 0, 3) = "cn-" ? "console.amazonaws.cn" : '
    '$substring($region, 0, 7) = "us-gov-" ? "console.amazonaws-us-gov.com" : "console.aws.amazon.com"'
)


def _path(field: str) -> str:
    expr = "$d"
    for part in field.split("."):
        expr = f"$get({expr}, {literal(part)})"
    return f"$show({expr})"


def message(title: str, level: str, version: int, rule_id: str, target_fields: list[str]) -> str:
    """The JSONata (without `{% %}`) of the alert text: rule, who, from where, on whom, outcome, where, what, link."""
    on = " & \"; \" & ".join(f"{literal(f + ' ')} & {_path(f)}" for f in target_fields) or literal("see the event")
    lines = [
        literal(f"{title} ({level}, rule version {version})"),
        f'"Who: " & {_path("userIdentity.arn")} & " (" & {_path("userIdentity.type")} & ")"',
        f'"From: " & {_path("sourceIPAddress")} & ", " & {_path("userAgent")}',
        f'"On: " & {on}',
        f'"Outcome: " & ($exists($get($d, "errorCode")) ? "failed: " & {_path("errorCode")} & " " & {_path("errorMessage")} : "succeeded")',
        '"Account: " & $show($states.input.account) & ", Region: " & $show($region)',
        f'"Event: " & {_path("eventSource")} & " " & {_path("eventName")} & " at " & {_path("eventTime")} & ", id " & {_path("eventID")}',
        f'"Console: https://" & $host & "/cloudtrailv2/home?region=" & {_path("awsRegion")} & "#/events/" & {_path("eventID")}',
        literal(f"Sigma rule {rule_id}"),
    ]
    return f"({_TEXT_HELPERS}; $join([{', '.join(lines)}], \"\\n\"))"


def subject(title: str, level: str) -> str | None:
    """The email subject: level and title within SNS's limit (ASCII, no line breaks); None if the title is not
    ASCII (SNS then uses its default subject)."""
    text = f"[{level}] {title}"
    if not all(32 <= ord(c) < 127 for c in text):
        return None
    return text if len(text) <= SNS_SUBJECT_MAX else text[: SNS_SUBJECT_MAX - 3].rsplit(" ", 1)[0] + "..."


def definition(comment: str, condition: str, alert_text: str, subject_text: str | None, topic_arn: Any, publish_arn: Any) -> dict:
    """The Amazon States Language definition (topic and integration ARNs as the caller writes them: CloudFormation
    intrinsics or Terraform values)."""
    arguments = {"TopicArn": topic_arn, "Message": "{% " + alert_text + " %}"}
    if subject_text:
        arguments["Subject"] = subject_text
    return {
        "Comment": comment,
        "QueryLanguage": "JSONata",
        "StartAt": "MatchesTheRule",
        "States": {
            "MatchesTheRule": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% " + condition + " %}", "Next": "Alert"}],
                "Default": "NoMatch",
            },
            "NoMatch": {"Type": "Succeed"},
            "Alert": {"Type": "Task", "Resource": publish_arn, "Arguments": arguments, "Retry": [PUBLISH_RETRY], "End": True},
        },
    }
