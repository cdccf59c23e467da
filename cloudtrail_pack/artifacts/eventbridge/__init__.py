"""EventBridge release artifacts: one event pattern per rule, and the rules that alert on them as a CloudFormation
template and a Terraform module.

Each pattern is the EventBridge backend's output, compiled once by the release (`NEEDS`); a rule the backend refuses
is not deployed and is listed with the reason in the template's Metadata. Files written into `out` (the release
passes dist/eventbridge/), the text formats from templates/:

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

from ...compilation import Refusal
from ...pack import PACK_NAME, PackError, PackRule, shown
from ...release.context import Release
from ..common import distinct_slugs, dump_yaml, json_text, logical_names, put, render, render_yaml, sentences, whole_sentences

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
    name: str  # CamelCase, from the rule's name (common.logical_names)

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


def collect(release: Release) -> tuple[list[Detection], list[tuple[PackRule, str]]]:
    """(every rule with a pattern, every rule refused with its reason), in pack order."""
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

#: The template's parameters, described (the Terraform module's variables say the same).
PARAMETER_DESCRIPTIONS = {
    "NotificationEmail": "Email address subscribed to the alert topic (confirm the subscription mail); empty for none",
    "CentralEventBusArn": "ARN of an event bus (e.g. in the security account) that receives every matched event unchanged; "
    "its resource policy must allow events:PutEvents from this account or organization. Empty: no forwarding",
    "GlobalServiceRegion": "The Region where CloudTrail events of IAM and AWS Organizations reach EventBridge (us-east-1; "
    "us-gov-west-1 in AWS GovCloud (US), cn-north-1 in China). Rules on those events are created only there",
}


def template(detections: list[Detection], refused: list[tuple[PackRule, str]], version: str) -> dict:
    """The CloudFormation template (templates/cloudformation.yaml.j2), as a document."""
    description = (
        f"{PACK_NAME} {version}: EventBridge rules on CloudTrail events for {len(detections)} Sigma rules, each "
        "notifying an SNS topic with a readable alert and, optionally, forwarding the matched events to a central "
        "event bus. Deploy it to every account of the organization (LeaveOrganization and AcceptHandshake are "
        "recorded in the member account) and every Region, e.g. as a StackSet. IAM and Organizations events reach "
        "EventBridge in us-east-1 only: rules on them are created only in GlobalServiceRegion, the others in every "
        "Region. AWS API Call via CloudTrail events need a CloudTrail trail logging management events."
    )
    return render_yaml(
        __name__, "cloudformation.yaml.j2",
        description=whole_sentences(description, TEMPLATE_DESCRIPTION_MAX_LENGTH), pack=PACK_NAME, version=version,
        detections=detections, refused=refused, descriptions=PARAMETER_DESCRIPTIONS,
        central_bus_pattern=CENTRAL_BUS_PATTERN, global_service_region=envelope.GLOBAL_SERVICE_REGION,
    )


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json (templates/, formatted as `terraform fmt` writes it)


def terraform_variables() -> str:
    return render(
        __name__, "variables.tf.j2", descriptions=PARAMETER_DESCRIPTIONS, central_bus_pattern=CENTRAL_BUS_PATTERN,
        global_service_region=envelope.GLOBAL_SERVICE_REGION, name_prefix=NAME_PREFIX, rule_name_max=RULE_NAME_MAX_LENGTH,
    )


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


def write_detections(detections: list[Detection], refused: list[tuple[PackRule, str]], out: Path, version: str) -> None:
    """Every EventBridge file for `detections` into `out` (see the module docstring)."""
    out = Path(out)
    slugs = distinct_slugs([d.rule for d in detections])
    for d in detections:
        put(out / "patterns" / f"{slugs[d.rule.id]}.json", d.pattern.text() + "\n")
    put(out / TEMPLATE_FILE, dump_yaml(template(detections, refused, version)))
    tf = out / "terraform"
    put(tf / "detections.json", json_text(terraform_detections(detections, version)))
    put(tf / "main.tf", render(__name__, "main.tf.j2"))
    put(tf / "outputs.tf", render(__name__, "outputs.tf.j2"))
    put(tf / "variables.tf", terraform_variables())
    put(tf / "versions.tf", render(__name__, "terraform-versions.tf.j2"))


def write(release: Release, out: Path) -> None:
    """Every EventBridge artifact of the release into `out`."""
    detections, refused = collect(release)
    write_detections(detections, refused, out, release.version)
