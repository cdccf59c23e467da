"""EventBridge release artifacts: every base rule of the pack in real time in AWS, as an EventBridge rule that
starts a Step Functions Express state machine which decides exactly and alerts (state_machine.py), written as a
CloudFormation template and a Terraform module.

Each rule's pattern is the EventBridge backend's output, compiled once by the release (`NEEDS`): the exact pattern
(`default` format) where one expresses the rule, else the `state_machine` format's prefilter, which lets through at
least every matching event; the state machine's JSONata Choice is exact either way. A rule both refuse (a
correlation) is not deployed and is listed with the reason in the template's Metadata. Files written into `out`
(the release passes dist/eventbridge/), the text formats from templates/:

    patterns/<rule>.json                           the event pattern as PutRule receives it
    state-machines/<rule>.asl.json                 the state machine (topic and integration ARNs as placeholders)
    cloudformation/cloudtrail-detections-eventbridge.cfn.yaml
    terraform/{versions.tf,main.tf,variables.tf,outputs.tf,detections.json}

What is deployed, per rule: an `AWS::Events::Rule` on the default event bus with the pattern, in the state that
receives every event the rule can match (read-only management events only where needed,
`sigma.backends.eventbridge.envelope.rule_state`), and targets:

* the rule's state machine (Express), started through a role allowed `states:StartExecution` on the stack's state
  machines, with EventBridge's retry policy and a dead-letter queue (SQS); an alarm on the rule's
  `FailedInvocations` and one on the state machine's `ExecutionsFailed` notify the topic. The state machine
  publishes the alert to the SNS topic: rule title, level and version; who (userIdentity.arn and type), from where
  (sourceIPAddress, userAgent), on whom (the rule's `fields` under requestParameters and responseElements), the
  outcome (errorCode, errorMessage for a failed call), account, Region, event time and id, and a link to the event
  in the CloudTrail console of the event's partition. The topic is encrypted with a KMS key if one is given.
* optionally, the matched event unchanged to a central event bus in another account (parameter
  CentralEventBusArn; condition ForwardToCentralBus), through a role EventBridge assumes with `events:PutEvents`
  on that bus (required for a bus in another Region, and when the bus policy trusts the organization). For a rule
  deployed with a prefilter, the central bus receives what the prefilter lets through.

Where the events arrive (docs/eventbridge-deploy.md explains it for the deployer): CloudTrail events of IAM and
AWS Organizations reach EventBridge in us-east-1 only, so their rules are created only where the Region is the
`GlobalServiceRegion` parameter (default us-east-1); the others in every Region the stack is deployed to.
LeaveOrganization and AcceptHandshake are recorded in the member account, so the stack belongs in every account:
a StackSet across the organization. ARNs name the partition (AWS::Partition, data.aws_partition).

All output is deterministic: no timestamps, fixed key order, `\\n` line endings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sigma.backends.cloudwatch.limits import TEMPLATE_DESCRIPTION_MAX_LENGTH
from sigma.backends.eventbridge import envelope
from sigma.backends.eventbridge.limits import RULE_DESCRIPTION_MAX_LENGTH, RULE_NAME_MAX_LENGTH
from sigma.backends.eventbridge.pattern import EventPattern

from ...compilation import Refusal
from ...pack import PACK_NAME, PackError, PackRule, shown
from ...release.context import Release
from ..common import distinct_slugs, dump_yaml, json_text, logical_names, put, render, render_yaml, sentences, whole_sentences
from . import state_machine

TARGET = "eventbridge"
FORMAT = "default"
STATE_MACHINE_FORMAT = "state_machine"
NEEDS = ((TARGET, FORMAT), (TARGET, STATE_MACHINE_FORMAT))
TEMPLATE_FILE = "cloudformation/cloudtrail-detections-eventbridge.cfn.yaml"
NAME_PREFIX = "cloudtrail-detections"  # Terraform rule names: <prefix>-<Rule>, within PutRule's 64 characters
CENTRAL_BUS_PATTERN = r"^$|^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$"
KMS_KEY_PATTERN = r"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+$"

#: The fields of a rule that say on whom it acted (`Detection.target_fields`).
TARGET_FIELD_PREFIXES = ("requestParameters.", "responseElements.")
MAX_TARGET_FIELDS = 8

@dataclass(frozen=True)
class Detection:
    """One rule as EventBridge runs it."""

    rule: PackRule
    version: int
    pattern: EventPattern  # deployed: exact, or a prefilter (`exact` False) the state machine's condition narrows
    name: str  # CamelCase, from the rule's name (common.logical_names)
    condition: str  # the JSONata of the state machine's Choice (without `{% %}`)
    exact: bool = True

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

    def definition(self, topic_arn, publish_arn) -> dict:
        """The state machine (state_machine.py), its ARNs as the caller writes them."""
        comment = f"{self.rule.title} (Sigma id {self.rule.id}): decides on the CloudTrail event as the rule does, then alerts"
        text = state_machine.message(self.rule.title, self.rule.level, self.version, self.rule.id, self.target_fields)
        subject = state_machine.subject(self.rule.title, self.rule.level)
        return state_machine.definition(comment, self.condition, text, subject, topic_arn, publish_arn)


def collect(release: Release) -> tuple[list[Detection], list[tuple[PackRule, str]]]:
    """(every rule deployed, every rule refused with its reason), in pack order. A correlation step (`step_only`)
    is neither: EventBridge matches one event at a time, so it would only ever alert on the step alone."""
    compiled, refused = [], []
    for rule in release.pack.rules:
        if rule.step_only:
            continue
        exact = release.result(rule, TARGET, FORMAT)
        routed = release.result(rule, TARGET, STATE_MACHINE_FORMAT)
        if isinstance(routed, Refusal):
            reason = exact.reason if isinstance(exact, Refusal) else routed.reason
            refused.append((rule, reason if reason == routed.reason else f"{reason}; state machine: {routed.reason}"))
            continue
        for result in (exact, routed):
            if not isinstance(result, Refusal) and len(result.queries) != 1:
                raise PackError(shown(rule.source), f"EventBridge: expected one event pattern, got {len(result.queries)}")
        document = json.loads(routed.queries[0])
        if isinstance(exact, Refusal):
            compiled.append((rule, EventPattern(document["EventPattern"]), document["Condition"], False))
        else:
            compiled.append((rule, EventPattern.parse(exact.queries[0]), document["Condition"], True))
    names = logical_names([c[0] for c in compiled])
    detections = [Detection(r, release.rule_versions[r.id], p, names[r.id], c, e) for r, p, c, e in compiled]
    for d in detections:
        if len(f"{NAME_PREFIX}-{d.name}") > RULE_NAME_MAX_LENGTH:
            raise PackError(shown(d.rule.source), f"EventBridge: rule name {NAME_PREFIX}-{d.name} is over {RULE_NAME_MAX_LENGTH} characters")
        for text in (d.rule.title, *d.target_fields):
            if "{%" in text or "%}" in text:
                raise PackError(shown(d.rule.source), f"EventBridge: {text!r} holds {{% or %}}, which Step Functions reads as a JSONata expression")
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
    "AlertTopicKmsKeyArn": "ARN of a KMS key (customer managed) to encrypt the alert topic with; its key policy must let "
    "cloudwatch.amazonaws.com use it (the alarms publish to the topic). Empty: the topic is not encrypted",
}


def template(detections: list[Detection], refused: list[tuple[PackRule, str]], version: str) -> dict:
    """The CloudFormation template (templates/cloudformation.yaml.j2), as a document."""
    description = (
        f"{PACK_NAME} {version}: EventBridge rules on CloudTrail events for {len(detections)} Sigma rules, each "
        "starting a Step Functions Express state machine that decides exactly as the rule does and notifies an SNS "
        "topic with a readable alert and, optionally, forwarding the matched events to a central event bus. Deploy it to every account of the organization (LeaveOrganization and AcceptHandshake are "
        "recorded in the member account) and every Region, e.g. as a StackSet. IAM and Organizations events reach "
        "EventBridge in us-east-1 only: rules on them are created only in GlobalServiceRegion, the others in every "
        "Region. AWS API Call via CloudTrail events need a CloudTrail trail logging management events."
    )
    return render_yaml(
        __name__, "cloudformation.yaml.j2",
        description=whole_sentences(description, TEMPLATE_DESCRIPTION_MAX_LENGTH), pack=PACK_NAME, version=version,
        detections=detections, refused=refused, descriptions=PARAMETER_DESCRIPTIONS,
        central_bus_pattern=CENTRAL_BUS_PATTERN, global_service_region=envelope.GLOBAL_SERVICE_REGION,
        kms_key_pattern=KMS_KEY_PATTERN, retry_policy=state_machine.RETRY_POLICY,
    )


# ---------------------------------------------------------------------------------------------------------
# Terraform: static HCL over a generated detections.json (templates/, formatted as `terraform fmt` writes it)


def terraform_variables() -> str:
    return render(
        __name__, "variables.tf.j2", descriptions=PARAMETER_DESCRIPTIONS, central_bus_pattern=CENTRAL_BUS_PATTERN,
        global_service_region=envelope.GLOBAL_SERVICE_REGION, name_prefix=NAME_PREFIX, rule_name_max=RULE_NAME_MAX_LENGTH,
        kms_key_pattern=KMS_KEY_PATTERN,
    )


def terraform_detections(detections: list[Detection], version: str) -> dict:
    out = {}
    for d in detections:
        out[d.name] = {
            "rule_id": d.rule.id,
            "title": d.rule.title,
            "level": d.rule.level,
            "version": d.version,
            "description": d.description(version),
            "event_pattern": d.pattern.text(),
            "state": d.pattern.state,
            "global_service_only": d.global_service_only,
            "exact_pattern": d.exact,
            # the ARNs are set by main.tf (the topic's, and the SNS integration's in the provider's partition)
            "definition": d.definition(None, None),
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
