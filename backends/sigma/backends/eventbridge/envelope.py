"""How CloudTrail records reach EventBridge: the envelope fields a pattern names besides `detail`, and where and
when the events arrive. Facts only; `pattern.py` decides from them.

* The record is the event's `detail`. CloudTrail sends five kinds of event to the default bus, each with its
  `detail-type`: AWS API Call via CloudTrail (an API request, also when it failed: `errorCode` is then in the
  record), AWS Console Signin via CloudTrail, AWS Console Action via CloudTrail, AWS Service Event via
  CloudTrail, AWS Insight via CloudTrail ("AWS service events delivered via AWS CloudTrail",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html). A Sigma rule on
  CloudTrail records is about every one of them unless it pins `eventType`, and sign-in events are spelled
  differently in different AWS pages, so a pattern names them by what they share, the suffix
  `DETAIL_TYPE_SUFFIX`, and names one type only where the rule pins `eventType` to AwsApiCall or AwsServiceEvent.
* `source` is `aws.<service>`; the service part is not always the event source's host name, so only the pairs
  AWS's EventBridge event reference states are used (`SOURCES`, each page cited); any other rule gets
  `{"prefix": "aws."}`, which still keeps out events a PutEvents caller made up (the `aws.` prefix is reserved
  to AWS services).
* Regions: "events created by CloudFront, IAM, and AWS STS are recorded in the Region in which they were created,
  the US East (N. Virginia) Region" (CloudTrail User Guide, "Global service events",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events),
  and "You can view all CloudTrail information for AWS Organizations only in the US East (N. Virginia) Region"
  (Organizations User Guide, "Logging and monitoring"). EventBridge receives a CloudTrail event on the default
  bus of the account and Region where it is recorded, so rules on IAM and AWS Organizations events
  (`US_EAST_1_ONLY`) only ever fire in us-east-1 (us-gov-west-1 and cn-north-1 in the other partitions). STS is
  left out: its Regional endpoints record in their own Region.
* Read-only management events: a rule in state ENABLED matches every event "except for read-only AWS management
  events delivered through CloudTrail"; ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS includes them. Read-only
  events whose names do not start with Describe, Get or List are delivered either way ("Receiving read-only
  management events from AWS services",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail-management.html).
* "To record events with a detail-type value of AWS API Call via CloudTrail, a CloudTrail trail with logging
  enabled is required" ("Events from AWS services", https://docs.aws.amazon.com/eventbridge/latest/userguide/event-types.html).
"""

from __future__ import annotations

DETAIL_TYPE_SUFFIX = " via CloudTrail"
API_CALL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SERVICE_EVENT_DETAIL_TYPE = "AWS Service Event via CloudTrail"
#: CloudTrail `eventType` values whose detail-type every AWS page spells the same way (eb-service-event-cloudtrail.html:
#: "the detail-type value of the event is the listed event type"; a service event is "AWS Service Event via
#: CloudTrail", e.g. AWS Organizations' AccountDepartedOrganization in the management account).
DETAIL_TYPES = {"AwsApiCall": API_CALL_DETAIL_TYPE, "AwsServiceEvent": SERVICE_EVENT_DETAIL_TYPE}

#: CloudTrail event source -> EventBridge `source`, as the EventBridge event reference states them
#: (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-<service>.html: "source: aws.<x>",
#: "eventSource: <host>").
SOURCES = {
    "iam.amazonaws.com": "aws.iam",  # events-ref-iam.html
    "organizations.amazonaws.com": "aws.organizations",  # events-ref-organizations.html
    "identitystore.amazonaws.com": "aws.identitystore",  # events-ref-identitystore.html
    "sts.amazonaws.com": "aws.sts",  # events-ref-sts.html
    "cloudtrail.amazonaws.com": "aws.cloudtrail",  # events-ref-cloudtrail.html
    "account.amazonaws.com": "aws.account",  # events-ref-account.html
}
AWS_SOURCE_PREFIX = "aws."

#: Event sources whose CloudTrail events are logged in us-east-1 only: global services (IAM), and AWS
#: Organizations, whose API endpoint is in us-east-1 (organizations.us-east-1.amazonaws.com).
US_EAST_1_ONLY = frozenset({"iam.amazonaws.com", "organizations.amazonaws.com"})
GLOBAL_SERVICE_REGION = "us-east-1"

READ_ONLY_PREFIXES = ("Describe", "Get", "List")
STATE_DEFAULT = "ENABLED"
STATE_WITH_READ_ONLY = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def source_values(event_sources: set[str] | None) -> list:
    """The pattern's `source` list for the event sources a rule requires (None: it requires none)."""
    if event_sources and all(s in SOURCES for s in event_sources):
        return sorted({SOURCES[s] for s in event_sources})
    return [{"prefix": AWS_SOURCE_PREFIX}]


def detail_type_values(event_types: set[str] | None) -> list:
    """The pattern's `detail-type` list for the `eventType` values a rule requires (None: any)."""
    if event_types and all(t in DETAIL_TYPES for t in event_types):
        return sorted({DETAIL_TYPES[t] for t in event_types})
    return [{"suffix": DETAIL_TYPE_SUFFIX}]


def rule_state(event_names: set[str] | None) -> str:
    """ENABLED if every event the rule can match is delivered in that state, else the state that includes
    read-only management events (`event_names` None: the rule does not pin eventName)."""
    prefixes = tuple(p.lower() for p in READ_ONLY_PREFIXES)
    if event_names is None or any(n.lower().startswith(prefixes) for n in event_names):
        return STATE_WITH_READ_ONLY
    return STATE_DEFAULT


def regions(event_sources: set[str] | None) -> str:
    """Where the rule's events arrive: "us-east-1" for IAM and Organizations only, else "every Region"."""
    if event_sources and event_sources <= US_EAST_1_ONLY:
        return GLOBAL_SERVICE_REGION
    return "every Region"
