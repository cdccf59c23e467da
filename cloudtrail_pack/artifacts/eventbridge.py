"""EventBridge release artifacts: one event pattern per rule, and the rules that alert on them as a CloudFormation
template and a Terraform module.

Each pattern is the EventBridge backend's output, compiled once by the release (`NEEDS`); a rule the backend refuses
is not deployed and is listed with the reason in the template's Metadata. Files written into `out_dir` (the release
passes dist/eventbridge/):

    patterns/<rule>.json                           the event pattern as PutRule receives it
    cloudformation/cloudtrail-detections-eventbridge.cfn.yaml
    terraform/{versions.tf,main.tf,variables.tf,outputs.tf,detections.json}

What is deployed, per rule: an `AWS::Events::Rule` on the default event bus with the pattern, in the state that
receives every event the rule can match (read-only management events only where needed,
`sigma.backends.eventbridge.envelope.rule_state`), and targets:

* the SNS topic, through an input transformer writing a readable alert: rule title, level and version; who
  (userIdentity.arn and type), from where (sourceIPAddress, userAgent), on whom (the rule's `fields` under
  requestParameters and responseElements), the outcome (errorCode, errorMessage: CloudTrail writes them only for
  a failed call), account, Region, event time and id, and a link to the event in the CloudTrail console. The
  topic policy lets `events.amazonaws.com` publish for rules of this account only (`aws:SourceAccount`).
* optionally, the matched event unchanged to a central event bus in another account (parameter
  CentralEventBusArn; condition ForwardToCentralBus), through a role EventBridge assumes with `events:PutEvents`
  on that bus (required for a bus in another Region, and when the bus policy trusts the organization).

Where the events arrive (docs/eventbridge-deploy.md explains it for the deployer): CloudTrail events of IAM and
AWS Organizations reach EventBridge in us-east-1 only, so their rules are created only where the Region is the
`GlobalServiceRegion` parameter (default us-east-1); the others in every Region the stack is deployed to.
LeaveOrganization and AcceptHandshake are recorded in the member account, so the stack belongs in every account:
a StackSet across the organization.

All output is deterministic: no timestamps, fixed key order, `\\n` line endings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sigma.backends.cloudwatch.limits import TEMPLATE_DESCRIPTION_MAX_LENGTH
from sigma.backends.eventbridge import envelope
from sigma.backends.eventbridge.limits import (
    INPUT_PATHS_MAX,
    INPUT_TEMPLATE_MAX_LENGTH,
    RULE_DESCRIPTION_MAX_LENGTH,
    RULE_NAME_MAX_LENGTH,
)
from sigma.backends.eventbridge.pattern import EventPattern

from ..compilation import Refusal
from ..pack import PACK_NAME, Pack, PackError, PackRule, shown
from ..release.context import Release, as_release
from .cloudwatch import TERRAFORM_VERSIONS, dump_yaml, logical_names, sentences, whole_sentences

TARGET = "eventbridge"
FORMAT = "default"
NEEDS = ((TARGET, FORMAT),)
TEMPLATE_FILE = "cloudformation/cloudtrail-detections-eventbridge.cfn.yaml"
NAME_PREFIX = "cloudtrail-detections"  # Terraform rule names: <prefix>-<Rule>, within PutRule's 64 characters
CENTRAL_BUS_PATTERN = r"^$|^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$"

#: InputPathsMap of every alert (keys: CloudFormation's pattern `[a-zA-Z0-9]+`), JSON paths into the event.
INPUT_PATHS = {
    "who": "$.detail.userIdentity.arn",
    "whoType": "$.detail.userIdentity.type",
    "sourceIp": "$.detail.sourceIPAddress",
    "userAgent": "$.detail.userAgent",
    "errorCode": "$.detail.errorCode",
    "errorMessage": "$.detail.errorMessage",
    "account": "$.account",
    "region": "$.region",
    "eventSource": "$.detail.eventSource",
    "eventName": "$.detail.eventName",
    "eventTime": "$.detail.eventTime",
    "eventId": "$.detail.eventID",
    "awsRegion": "$.detail.awsRegion",
}
#: The fields of a rule that say on whom it acted (`Detection.target_fields`).
TARGET_FIELD_PREFIXES = ("requestParameters.", "responseElements.")
MAX_TARGET_FIELDS = 8
#: The event in the CloudTrail console (event history; the form the console itself links to).
CONSOLE_LINK = "https://<awsRegion>.console.aws.amazon.com/cloudtrailv2/home?region=<awsRegion>#/events/<eventId>"


@dataclass(frozen=True)
class Detection:
    """One rule as EventBridge runs it."""

    rule: PackRule
    version: int
    pattern: EventPattern
    name: str  # CamelCase, from the rule's name (cloudwatch.logical_names)

    @property
    def global_service_only(self) -> bool:
        return self.pattern.regions == envelope.GLOBAL_SERVICE_REGION

    @property
    def target_fields(self) -> list[str]:
        """The rule's `fields` that name what it acted on; for a call on the account itself (LeaveOrganization),
        the account that recorded it."""
        fields = self.rule.rule.fields or []
        acted_on = [f for f in fields if f.startswith(TARGET_FIELD_PREFIXES)]
        if not acted_on and "recipientAccountId" in fields:
            acted_on = ["recipientAccountId"]
        return acted_on[:MAX_TARGET_FIELDS]

    def description(self, pack_version: str) -> str:
        """PutRule's Description: title, level, version, id and pack, then whole sentences of the rule's description."""
        head = (
            f"{self.rule.title} | level {self.rule.level} | rule version {self.version} | Sigma id {self.rule.id} | "
            f"{PACK_NAME} {pack_version}"
        )
        if len(head) > RULE_DESCRIPTION_MAX_LENGTH:
            raise PackError(shown(self.rule.source), f"EventBridge: the rule description is over {RULE_DESCRIPTION_MAX_LENGTH} characters")
        more = whole_sentences(" ".join(sentences(self.rule.rule.description or "")), RULE_DESCRIPTION_MAX_LENGTH - len(head) - 3)
        return f"{head} | {more}" if more else head

    def input_transformer(self) -> dict:
        """The SNS target's InputTransformer: the readable alert (a JSON string template, EventBridge's form for
        text)."""
        paths = dict(INPUT_PATHS)
        on = []
        for index, field in enumerate(self.target_fields, 1):
            paths[f"on{index}"] = "$.detail." + field
            on.append(f"{field} <on{index}>")
        lines = [
            f"{self.rule.title} ({self.rule.level}, rule version {self.version})",
            "Who: <who> (<whoType>)",
            "From: <sourceIp>, <userAgent>",
            "On: " + ("; ".join(on) if on else "see the event"),
            "Outcome (errorCode, errorMessage; none: the call succeeded): <errorCode> <errorMessage>",
            "Account: <account>, Region: <region>",
            "Event: <eventSource> <eventName> at <eventTime>, id <eventId>",
            f"Console: {CONSOLE_LINK}",
            f"Sigma rule {self.rule.id}",
        ]
        for text in (self.rule.title, *self.target_fields):
            if re.search(r"[<>]", text):
                raise PackError(shown(self.rule.source), f"EventBridge: {text!r} holds < or >, which an input template reads as a placeholder")
        template = json.dumps("\n".join(lines), ensure_ascii=False)
        if len(paths) > INPUT_PATHS_MAX or len(template) > INPUT_TEMPLATE_MAX_LENGTH:
            raise PackError(shown(self.rule.source), "EventBridge: the input transformer is over PutTargets' limits")
        return {"InputPathsMap": paths, "InputTemplate": template}


def collect(source: Release | Pack) -> tuple[list[Detection], list[tuple[PackRule, str]]]:
    """(every rule with a pattern, every rule refused with its reason), in pack order."""
    release = as_release(source, NEEDS)
    compiled, refused = [], []
    for rule in release.pack.rules:
        result = release.result(rule, TARGET, FORMAT)
        if isinstance(result, Refusal):
            refused.append((rule, result.reason))
            continue
        if len(result.queries) != 1:
            raise PackError(shown(rule.source), f"EventBridge: expected one event pattern, got {len(result.queries)}")
        compiled.append((rule, EventPattern.parse(result.queries[0])))
    names = logical_names([r for r, _ in compiled])
    detections = [Detection(r, release.rule_versions[r.id], p, names[r.id]) for r, p in compiled]
    for d in detections:
        if len(f"{NAME_PREFIX}-{d.name}") > RULE_NAME_MAX_LENGTH:
            raise PackError(shown(d.rule.source), f"EventBridge: rule name {NAME_PREFIX}-{d.name} is over {RULE_NAME_MAX_LENGTH} characters")
    return detections, refused


# ---------------------------------------------------------------------------------------------------------
# CloudFormation

PARAMETERS = {
    "NotificationEmail": {
        "Type": "String",
        "Description": "Email address subscribed to the alert topic (confirm the subscription mail); empty for none",
        "Default": "",
        "AllowedPattern": "^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$",
        "ConstraintDescription": "an email address, or empty",
    },
    "CentralEventBusArn": {
        "Type": "String",
        "Description": "ARN of an event bus (e.g. in the security account) that receives every matched event unchanged; "
        "its resource policy must allow events:PutEvents from this account or organization. Empty: no forwarding",
        "Default": "",
        "AllowedPattern": CENTRAL_BUS_PATTERN,
        "ConstraintDescription": "an event bus ARN, or empty",
    },
    "GlobalServiceRegion": {
        "Type": "String",
        "Description": "The Region where CloudTrail events of IAM and AWS Organizations reach EventBridge (us-east-1; "
        "us-gov-west-1 in AWS GovCloud (US), cn-north-1 in China). Rules on those events are created only there",
        "Default": envelope.GLOBAL_SERVICE_REGION,
        "AllowedPattern": "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$",
    },
}


def template(detections: list[Detection], refused: list[tuple[PackRule, str]], version: str) -> dict:
    resources: dict = {
        "AlertTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "CloudTrail detections (EventBridge)"}},
        "AlertTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "AlertTopic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgeRulesOfThisAccount",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": "AlertTopic"},
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
            },
        },
        "AlertTopicEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotificationEmail",
            "Properties": {"TopicArn": {"Ref": "AlertTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}},
        },
        "ForwardingRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "ForwardToCentralBus",
            "Properties": {
                "Description": "Lets this stack's EventBridge rules put matched CloudTrail events on the central event bus",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "PutEventsOnCentralBus",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": {"Ref": "CentralEventBusArn"}}],
                        },
                    }
                ],
            },
        },
    }
    rules_meta = []
    for d in detections:
        rule: dict = {"Type": "AWS::Events::Rule"}
        if d.global_service_only:
            rule["Condition"] = "InGlobalServiceRegion"
        rule["Properties"] = {
            "Description": d.description(version),
            "EventBusName": "default",
            "EventPattern": d.pattern.text(),  # a JSON string: CloudFormation allows no null in a template object
            "State": d.pattern.state,
            "Targets": [
                {"Id": "Alert", "Arn": {"Ref": "AlertTopic"}, "InputTransformer": d.input_transformer()},
                {
                    "Fn::If": [
                        "ForwardToCentralBus",
                        {"Id": "CentralEventBus", "Arn": {"Ref": "CentralEventBusArn"}, "RoleArn": {"Fn::GetAtt": ["ForwardingRole", "Arn"]}},
                        {"Ref": "AWS::NoValue"},
                    ]
                },
            ],
        }
        resources[f"{d.name}Rule"] = rule
        rules_meta.append(
            {
                "Id": d.rule.id,
                "Title": d.rule.title,
                "Level": d.rule.level,
                "Version": d.version,
                "Resource": f"{d.name}Rule",
                "State": d.pattern.state,
                "Regions": d.pattern.regions,
            }
        )
    description = (
        f"{PACK_NAME} {version}: EventBridge rules on CloudTrail events for {len(detections)} Sigma rules, each "
        "notifying an SNS topic with a readable alert and, optionally, forwarding the matched events to a central "
        "event bus. Deploy it to every account of the organization (LeaveOrganization and AcceptHandshake are "
        "recorded in the member account) and every Region, e.g. as a StackSet. IAM and Organizations events reach "
        "EventBridge in us-east-1 only: rules on them are created only in GlobalServiceRegion, the others in every "
        "Region. AWS API Call via CloudTrail events need a CloudTrail trail logging management events."
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": whole_sentences(description, TEMPLATE_DESCRIPTION_MAX_LENGTH),
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": "Notification"}, "Parameters": ["NotificationEmail"]},
                    {"Label": {"default": "Forwarding"}, "Parameters": ["CentralEventBusArn"]},
                    {"Label": {"default": "Regions"}, "Parameters": ["GlobalServiceRegion"]},
                ]
            },
            "CloudTrailDetectionPack": {
                "Pack": PACK_NAME,
                "Version": version,
                "Rules": rules_meta,
                "NotDeployed": [{"Id": r.id, "Title": r.title, "Reason": reason} for r, reason in refused],
            },
        },
        "Parameters": PARAMETERS,
        "Conditions": {
            "HasNotificationEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]},
            "ForwardToCentralBus": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CentralEventBusArn"}, ""]}]},
            "InGlobalServiceRegion": {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "GlobalServiceRegion"}]},
        },
        "Resources": resources,
        "Outputs": {
            "AlertTopicArn": {"Description": "SNS topic the rules notify; subscribe more endpoints to it", "Value": {"Ref": "AlertTopic"}}
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json (formatted as `terraform fmt` writes it)

TERRAFORM_MAIN = """\
# CloudTrail detection pack: EventBridge rules on CloudTrail events, each notifying an SNS topic with a readable
# alert and, optionally, forwarding the matched events to a central event bus. The rules come from
# detections.json (generated with the release). Apply in every account and Region (docs/eventbridge-deploy.md).

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  detections = jsondecode(file("${path.module}/detections.json"))
  # IAM and Organizations events reach EventBridge only in the global service Region
  in_global_service_region = data.aws_region.current.name == var.global_service_region
  rules                    = { for key, d in local.detections : key => d if local.in_global_service_region || !d.global_service_only }
  forward                  = var.central_event_bus_arn != ""
}

resource "aws_sns_topic" "alerts" {
  name_prefix  = "${var.name_prefix}-"
  display_name = "CloudTrail detections (EventBridge)"
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeRulesOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alerts.arn
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.notification_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

resource "aws_cloudwatch_event_rule" "rule" {
  for_each      = local.rules
  name          = "${var.name_prefix}-${each.key}"
  description   = each.value.description
  event_pattern = each.value.event_pattern
  state         = each.value.state
}

resource "aws_cloudwatch_event_target" "alert" {
  for_each  = local.rules
  rule      = aws_cloudwatch_event_rule.rule[each.key].name
  target_id = "Alert"
  arn       = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths    = each.value.input_paths
    input_template = each.value.input_template
  }
}

resource "aws_iam_role" "forwarding" {
  count       = local.forward ? 1 : 0
  name_prefix = "${var.name_prefix}-fwd-"
  description = "Lets the EventBridge rules put matched CloudTrail events on the central event bus"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "forwarding" {
  count = local.forward ? 1 : 0
  name  = "PutEventsOnCentralBus"
  role  = aws_iam_role.forwarding[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "events:PutEvents", Resource = var.central_event_bus_arn }]
  })
}

resource "aws_cloudwatch_event_target" "central_bus" {
  for_each  = local.forward ? local.rules : {}
  rule      = aws_cloudwatch_event_rule.rule[each.key].name
  target_id = "CentralEventBus"
  arn       = var.central_event_bus_arn
  role_arn  = aws_iam_role.forwarding[0].arn
}
"""


def _hcl(text: str) -> str:
    return json.dumps(text)


TERRAFORM_VARIABLES = f"""\
variable "notification_email" {{
  description = {_hcl(PARAMETERS["NotificationEmail"]["Description"])}
  type        = string
  default     = ""
}}

variable "central_event_bus_arn" {{
  description = {_hcl(PARAMETERS["CentralEventBusArn"]["Description"])}
  type        = string
  default     = ""

  validation {{
    condition     = can(regex({_hcl(CENTRAL_BUS_PATTERN)}, var.central_event_bus_arn))
    error_message = "central_event_bus_arn is an event bus ARN, or empty."
  }}
}}

variable "global_service_region" {{
  description = {_hcl(PARAMETERS["GlobalServiceRegion"]["Description"])}
  type        = string
  default     = "{envelope.GLOBAL_SERVICE_REGION}"
}}

variable "name_prefix" {{
  description = "Prefix of the rule, topic and role names (rule names: <prefix>-<Rule>, at most {RULE_NAME_MAX_LENGTH} characters)"
  type        = string
  default     = "{NAME_PREFIX}"

  validation {{
    condition     = length(var.name_prefix) <= {len(NAME_PREFIX)}
    error_message = "name_prefix is at most {len(NAME_PREFIX)} characters, so that every rule name fits PutRule's {RULE_NAME_MAX_LENGTH}."
  }}
}}
"""

TERRAFORM_OUTPUTS = """\
output "alert_topic_arn" {
  description = "SNS topic the rules notify; subscribe more endpoints to it"
  value       = aws_sns_topic.alerts.arn
}

output "rule_arns" {
  description = "EventBridge rule ARNs, by rule"
  value       = { for key, r in aws_cloudwatch_event_rule.rule : key => r.arn }
}
"""


def terraform_detections(detections: list[Detection], version: str) -> dict:
    out = {}
    for d in detections:
        transformer = d.input_transformer()
        out[d.name] = {
            "rule_id": d.rule.id,
            "title": d.rule.title,
            "level": d.rule.level,
            "version": d.version,
            "description": d.description(version),
            "event_pattern": d.pattern.text(),
            "state": d.pattern.state,
            "global_service_only": d.global_service_only,
            "input_paths": transformer["InputPathsMap"],
            "input_template": transformer["InputTemplate"],
        }
    return out


# ---------------------------------------------------------------------------------------------------------
# Writing


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _put(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    written.append(path)


def write_detections(detections: list[Detection], refused: list[tuple[PackRule, str]], out_dir: Path, version: str) -> list[Path]:
    out_dir = Path(out_dir)
    slugs = {d.rule.id: d.rule.slug for d in detections}
    if len(set(slugs.values())) != len(slugs):
        raise PackError(out_dir, "two rules share a file name; give them distinct `name`s")
    written: list[Path] = []
    for d in detections:
        _put(out_dir / "patterns" / f"{slugs[d.rule.id]}.json", d.pattern.text() + "\n", written)
    _put(out_dir / TEMPLATE_FILE, dump_yaml(template(detections, refused, version)), written)
    tf = out_dir / "terraform"
    _put(tf / "detections.json", _json(terraform_detections(detections, version)), written)
    _put(tf / "main.tf", TERRAFORM_MAIN, written)
    _put(tf / "outputs.tf", TERRAFORM_OUTPUTS, written)
    _put(tf / "variables.tf", TERRAFORM_VARIABLES, written)
    _put(tf / "versions.tf", TERRAFORM_VERSIONS, written)
    return written


def write(source: Release | Pack, out_dir: Path) -> list[Path]:
    """Every EventBridge artifact of the release into out_dir (a Pack is compiled for this writer alone)."""
    release = as_release(source, NEEDS)
    detections, refused = collect(release)
    return write_detections(detections, refused, out_dir, release.version)
