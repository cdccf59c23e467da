"""The T1666 rules (account created, invited, accepted, moved) and the two access-removal sequences: what each
rule is, read off the rules themselves (what they match is the manifest's business, tests/test_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationType, SigmaExtendedCorrelationCondition
from sigma.pipelines.cloudtrail.splunk import splunk_cloudtrail_pipeline

CATALOG = "https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/"
HIERARCHY = {
    "aws_organizations_account_created": ("low", ["CreateAccount", "CreateGovCloudAccount"], "T1666.A001"),
    "aws_organizations_account_invited": ("medium", "InviteAccountToOrganization", "T1666.A001"),
    "aws_organizations_invitation_accepted": ("medium", "AcceptHandshake", "T1666.A001"),
    "aws_organizations_account_moved": ("low", "MoveAccount", None),
}
DISTINCT = "aws_iam_access_removed_distinct_users"
THEN_DELETED = "aws_iam_user_credentials_removed_then_deleted"
CREDENTIALS = [
    "aws_iam_user_login_profile_removed_or_changed",
    "aws_iam_user_access_key_removed",
    "aws_iam_user_other_credentials_removed",
    "aws_iam_user_mfa_deactivated",
]


@pytest.mark.parametrize("name", sorted(HIERARCHY))
def test_hierarchy_rule_matches_its_organizations_calls(pack, name):
    level, event_name, _ = HIERARCHY[name]
    rule = pack.by_id(name).rule
    selection = rule.detection.detections["selection"].detection_items
    values = {i.field: [str(v) for v in i.value] for i in selection}
    assert values["eventSource"] == ["organizations.amazonaws.com"]
    assert values["eventName"] == (event_name if isinstance(event_name, list) else [event_name])
    assert rule.level.name.lower() == level


@pytest.mark.parametrize("name", sorted(HIERARCHY))
def test_hierarchy_rule_is_tagged_t1666_and_links_its_catalog_sub_technique(pack, name):
    rule = pack.by_id(name).rule
    assert {f"{t.namespace}.{t.name}" for t in rule.tags} == {"attack.defense-evasion", "attack.t1666"}
    sub = HIERARCHY[name][2]
    linked = {str(r) for r in rule.references if str(r).startswith(CATALOG + "T1666.A")}
    assert linked == ({f"{CATALOG}{sub}.html"} if sub else set())


def test_leaving_the_organization_links_catalog_t1666_a002(pack):
    refs = [str(r) for r in pack.by_id("aws_organizations_leave_organization").rule.references]
    assert f"{CATALOG}T1666.A002.html" in refs


def test_an_invitation_acceptance_is_an_invite_handshake_or_a_failed_call(pack):
    detection = pack.by_id("aws_organizations_invitation_accepted").rule.detection
    assert detection.condition == ["selection and (selection_invite or selection_failed)"]
    (invite,) = detection.detections["selection_invite"].detection_items
    assert (invite.field, sorted(str(v) for v in invite.value)) == ("responseElements.handshake.action", ["INVITE", "invite"])
    (failed,) = detection.detections["selection_failed"].detection_items
    assert failed.field == "errorCode" and failed.value[0].exists


def test_distinct_users_counts_user_names_per_principal_over_the_access_removal_rules(pack):
    rule = pack.by_id(DISTINCT).rule
    assert rule.type == SigmaCorrelationType.VALUE_COUNT
    assert rule.condition.fieldref == "requestParameters.userName" and rule.condition.count == 3
    assert rule.group_by == ["userIdentity.arn"] and rule.timespan.seconds == 600
    assert rule.generate
    counted = {ref.reference for ref in rule.rules}
    assert {"aws_iam_user_deleted", *CREDENTIALS} <= counted
    # Identity Center users are identity-store ids, not IAM user names: their rule does not count
    assert "aws_identitycenter_user_deleted_or_disabled" not in counted


def test_then_deleted_is_a_credential_removal_then_the_deletion_of_that_user_by_that_principal(pack):
    rule = pack.by_id(THEN_DELETED).rule
    assert rule.type == SigmaCorrelationType.TEMPORAL_ORDERED
    assert [ref.reference for ref in rule.rules] == [*CREDENTIALS, "aws_iam_user_deleted"]
    assert isinstance(rule.condition, SigmaExtendedCorrelationCondition)
    assert rule.condition.expression == f"({' or '.join(CREDENTIALS)}) and aws_iam_user_deleted"
    assert rule.group_by == ["userIdentity.arn", "requestParameters.userName"] and rule.timespan.seconds == 600
    assert rule.generate


def test_then_deleted_says_how_to_tune_away_the_delete_iam_user_runbook(pack):
    text = " ".join(pack.by_id(THEN_DELETED).rule.falsepositives)
    assert "AWSConfigRemediation-DeleteIAMUser" in text and "AutomationAssumeRole" in text


@pytest.mark.parametrize("name", [DISTINCT, THEN_DELETED])
def test_a_correlation_sits_below_the_folder_of_every_rule_it_counts(pack, name):
    """pathlib's `**/*.yml` (sigma-cli's folder loading) lists a folder's files before its sub-folders', and
    pySigma keeps that order when it holds: `sigma convert` on the folder meets the rules first."""
    correlation = pack.by_id(name)
    for ref in correlation.rule.rules:
        base = pack.by_id(str(ref.rule.id))
        assert correlation.path.parent.parent == base.path.parent, base.path


def test_sigma_cli_style_loading_of_the_iam_folder_converts_the_correlations(pack):
    collection = SigmaCollection.load_ruleset([Path(pack.root) / "iam"])
    names = [r.name for r in collection.rules]
    assert names.index(DISTINCT) > max(names.index(n) for n in ["aws_iam_user_deleted", *CREDENTIALS])
    searches = SplunkBackend(processing_pipeline=splunk_cloudtrail_pipeline()).convert(collection)
    assert any(s.endswith(f"| `cloudtrail_detection_pack_{DISTINCT}_filter`") for s in searches)
    assert any(s.endswith(f"| `cloudtrail_detection_pack_{THEN_DELETED}_filter`") for s in searches)
