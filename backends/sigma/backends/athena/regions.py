"""Which Region folder of the organization trail can hold a rule's events, so an Athena query reads only that one.

CloudTrail records the calls of a global service's endpoint in one Region and delivers them to that Region's
folder (`.../CloudTrail/<region>/...`): IAM in us-east-1 in the aws partition since 2021-11-22 ("events created by
... AWS Identity and Access Management ... are recorded in the Region in which they were created, the US East (N.
Virginia) Region",
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-update-trail.html),
and AWS Organizations, whose endpoint is us-east-1 (the Organizations API reference: "specify the us-east-1
region for all ... API and CLI calls made from the commercial ... Regions"). A rule whose every
match needs one of those event sources is pinned to that Region's partition; any other rule (IAM Identity
Center's events are in the Region of its instance, regional services everywhere) reads every Region.
"""

from __future__ import annotations

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.types import SigmaString

from .literals import has_wildcards, plain_text

#: Event sources that CloudTrail records in one Region only (the aws partition's; backend option `global_region`).
GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "organizations.amazonaws.com"})
GLOBAL_REGION = "us-east-1"


def sources(node) -> frozenset[str] | None:
    """The eventSource values a match of `node` requires (lowered), or None when it requires none in particular.

    AND: a match satisfies every branch, so any constrained branch bounds it; OR: every branch must be bounded;
    NOT and anything else bound nothing (a negated eventSource says nothing about the one that matched)."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        value = node.value
        if node.field == "eventSource" and isinstance(value, SigmaString) and not has_wildcards(value):
            return frozenset({plain_text(value).lower()})
        return None
    if isinstance(node, ConditionAND):
        bounded = [s for s in map(sources, node.args) if s is not None]
        return frozenset.intersection(*bounded) if bounded else None
    if isinstance(node, ConditionOR):
        parts = [sources(arg) for arg in node.args]
        return None if any(p is None for p in parts) else frozenset().union(*parts)
    return None


def rule_sources(rule) -> frozenset[str] | None:
    """The eventSource values any match of a Sigma rule requires (every condition of the rule), or None."""
    found: set[str] = set()
    for condition in rule.detection.parsed_condition:
        part = sources(condition.parsed)
        if part is None:
            return None
        found |= part
    return frozenset(found)


def pinned_region(rules, global_region: str = GLOBAL_REGION) -> str | None:
    """The one Region folder all events of `rules` are delivered to, or None (read every Region)."""
    for rule in rules:
        found = rule_sources(rule)
        if found is None or not found <= GLOBAL_SOURCES:
            return None
    return global_region
