"""Shared helpers for the CloudWatch target's tests: backends with and without the CloudTrail pipeline, a
one-line way to build a rule around a detection, and the detections the artifact writers write (hand-written
stand-ins and the backend's own output) with the folder they write."""

from __future__ import annotations

import textwrap

import pytest
from sigma.backends.cloudwatch import CloudWatchLogsInsightsBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.cloudtrail import cloudwatch_cloudtrail_pipeline


def rule_yaml(detection: str, fields: list[str] | None = None, title: str = "Test") -> str:
    """A CloudTrail rule around `detection` (YAML of the detection block, without the `detection:` key)."""
    text = f"""
title: {title}
id: 5f1b4d62-0000-4000-8000-000000000001
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
"""
    if fields:
        text += "fields:\n" + "".join(f"    - '{f}'\n" for f in fields)
    return text


def query(expr: str, fields: str = "@timestamp, @message") -> str:
    """The default-format query the backend writes around a filter expression."""
    return f"fields {fields}\n| filter {expr}\n| sort @timestamp desc"


@pytest.fixture
def backend() -> CloudWatchLogsInsightsBackend:
    """The backend as sigma-cli runs it for the pack: -t cloudwatch -p cloudwatch_cloudtrail."""
    return CloudWatchLogsInsightsBackend(cloudwatch_cloudtrail_pipeline())


@pytest.fixture
def bare_backend() -> CloudWatchLogsInsightsBackend:
    """The backend without a pipeline: every field is case-insensitive and any field name is accepted."""
    return CloudWatchLogsInsightsBackend()


@pytest.fixture
def convert(backend):
    def run(detection: str, fmt: str = "default", fields: list[str] | None = None, title: str = "Test"):
        return backend.convert(SigmaCollection.from_yaml(rule_yaml(detection, fields, title)), fmt)

    return run


@pytest.fixture
def convert_bare(bare_backend):
    def run(detection: str, fmt: str = "default", fields: list[str] | None = None):
        return bare_backend.convert(SigmaCollection.from_yaml(rule_yaml(detection, fields)), fmt)

    return run


#: The credential rules' self-service exclusion, by hand (the backend also guards with ispresent()).
SELF_SERVICE = (
    'and not ((userIdentity.type = "IAMUser" and tolower(requestParameters.userName) = tolower(userIdentity.userName)) '
    'or (userIdentity.type = "IAMUser" and not ispresent(requestParameters.userName)))'
)

# What the CloudWatch backend gives for each rule, written by hand: the writers' tests run on these whether
# or not the backend is installed; tests marked with `real_detections` use the backend's own output.
HAND_QUERIES = {
    "aws_iam_user_access_key_removed": (
        'fields @timestamp, eventName, userIdentity.arn, requestParameters.userName\n'
        '| filter eventSource = "iam.amazonaws.com" and (eventName = "DeleteAccessKey" or '
        '(eventName = "UpdateAccessKey" and requestParameters.status = "Inactive")) ' + SELF_SERVICE,
        None,
    ),
    "aws_iam_user_deleted": (
        'fields @timestamp, userIdentity.arn, requestParameters.userName\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"',
        '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }',
    ),
    "aws_iam_user_login_profile_removed_or_changed": (
        'fields @timestamp, eventName, userIdentity.arn\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName in ["DeleteLoginProfile", "UpdateLoginProfile"] '
        + SELF_SERVICE,
        None,
    ),
    "aws_iam_user_mfa_deactivated": (
        'fields @timestamp, userIdentity.arn, requestParameters.serialNumber\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeactivateMFADevice" ' + SELF_SERVICE,
        None,
    ),
    "aws_organizations_account_removed": (
        'fields @timestamp, userIdentity.arn, requestParameters.accountId\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName = "RemoveAccountFromOrganization"',
        '{ ($.eventSource = "organizations.amazonaws.com") && ($.eventName = "RemoveAccountFromOrganization") }',
    ),
    "aws_organizations_leave_organization": (
        'fields @timestamp, userIdentity.arn, recipientAccountId\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName = "LeaveOrganization"',
        '{ ($.eventSource = "organizations.amazonaws.com") && ($.eventName = "LeaveOrganization") }',
    ),
    "aws_iam_user_deleted_mass": (
        'filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"\n'
        '| stats count(*) as event_count by userIdentity.arn, bin(10m)\n'
        '| filter event_count >= 3',
        None,
    ),
    "aws_iam_deny_all_managed_policy_applied": (
        'fields @timestamp, eventName, userIdentity.arn, requestParameters.userName, requestParameters.groupName\n'
        '| filter eventSource = "iam.amazonaws.com" and ((eventName in ["AttachUserPolicy", "AttachGroupPolicy"] and '
        'requestParameters.policyArn like /(?i)\\Aarn:aws:iam::aws:policy\\/AWSDenyAll\\z/) or '
        '(eventName = "PutUserPermissionsBoundary" and '
        'requestParameters.permissionsBoundary like /(?i)\\Aarn:aws:iam::aws:policy\\/AWSDenyAll\\z/))',
        None,
    ),
    "aws_iam_inline_deny_all_policy_put": (
        'fields @timestamp, eventName, userIdentity.arn, requestParameters.userName, requestParameters.groupName\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName in ["PutUserPolicy", "PutGroupPolicy"] and '
        'requestParameters.policyDocument like /"Effect"[ \\t\\r\\n]*:[ \\t\\r\\n]*"Deny"/',
        None,
    ),
    "aws_iam_user_removed_from_group": (
        'fields @timestamp, userIdentity.arn, requestParameters.userName, requestParameters.groupName\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName = "RemoveUserFromGroup"',
        '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "RemoveUserFromGroup") }',
    ),
    "aws_identitycenter_user_deleted_or_disabled": (
        'fields @timestamp, eventSource, eventName, userIdentity.arn, requestParameters.userId\n'
        '| filter (eventSource = "identitystore.amazonaws.com" and eventName = "DeleteUser") or '
        '(eventSource = "sso-directory.amazonaws.com" and eventName in ["DeleteUser", "DisableUser"])',
        '{ (($.eventSource = "identitystore.amazonaws.com") && ($.eventName = "DeleteUser")) || '
        '(($.eventSource = "sso-directory.amazonaws.com") && (($.eventName = "DeleteUser") || '
        '($.eventName = "DisableUser"))) }',
    ),
    "aws_organizations_account_created": (
        'fields @timestamp, eventName, userIdentity.arn, requestParameters.accountName\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName in ["CreateAccount", "CreateGovCloudAccount"]',
        '{ ($.eventSource = "organizations.amazonaws.com") && (($.eventName = "CreateAccount") || '
        '($.eventName = "CreateGovCloudAccount")) }',
    ),
    "aws_organizations_account_invited": (
        'fields @timestamp, userIdentity.arn, requestParameters.target.id\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName = "InviteAccountToOrganization"',
        '{ ($.eventSource = "organizations.amazonaws.com") && ($.eventName = "InviteAccountToOrganization") }',
    ),
    "aws_organizations_invitation_accepted": (
        'fields @timestamp, userIdentity.arn, responseElements.handshake.arn\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName = "AcceptHandshake" and '
        '(responseElements.handshake.action like /(?i)\\Ainvite\\z/ or ispresent(errorCode))',
        None,
    ),
    "aws_organizations_account_moved": (
        'fields @timestamp, userIdentity.arn, requestParameters.accountId, requestParameters.destinationParentId\n'
        '| filter eventSource = "organizations.amazonaws.com" and eventName = "MoveAccount"',
        '{ ($.eventSource = "organizations.amazonaws.com") && ($.eventName = "MoveAccount") }',
    ),
    "aws_iam_access_removed_distinct_users": (
        'filter eventSource = "iam.amazonaws.com" and eventName in ["DeleteUser", "DeleteLoginProfile", '
        '"UpdateLoginProfile", "DeleteAccessKey", "DeactivateMFADevice", "RemoveUserFromGroup"]\n'
        '| stats count_distinct(requestParameters.userName) as valueCount by userIdentity.arn, bin(10m)\n'
        '| filter valueCount >= 3',
        None,
    ),
    "aws_iam_user_credentials_removed_then_deleted": (
        'filter eventSource = "iam.amazonaws.com" and eventName in ["DeleteLoginProfile", "DeleteAccessKey", "DeleteUser"]',
        None,
    ),
}


def cloudwatch_formats() -> set[str]:
    """Output formats of the installed CloudWatch backend (empty: not installed yet)."""
    from cloudtrail_pack.artifacts.cloudwatch import TARGET, backend_formats
    from cloudtrail_pack.pack import PackError
    from cloudtrail_pack.registry import TARGETS

    try:
        return backend_formats(TARGETS[TARGET])
    except (ImportError, PackError):  # not installed, or still being written (its own tests report that)
        return set()


def backend_ready() -> tuple[bool, str]:
    from cloudtrail_pack.artifacts.cloudwatch import METRIC_FILTER_FORMAT, QUERY_FORMAT

    formats = cloudwatch_formats()
    if not formats:
        return False, "the CloudWatch backend (sigma.backends.cloudwatch) is not installed or does not import yet"
    missing = {QUERY_FORMAT, METRIC_FILTER_FORMAT} - formats
    if missing:
        return False, f"the CloudWatch backend has no output format(s) {sorted(missing)} (it offers {sorted(formats)})"
    return True, ""


@pytest.fixture(scope="session")
def hand_detections(pack):
    from cloudtrail_pack.artifacts.cloudwatch import Detection

    out = []
    for rule in pack.rules:
        query, pattern = HAND_QUERIES[rule.slug]
        reason = "" if pattern else "metric filter pattern: correlation rules are not supported (hand-written)"
        out.append(Detection(rule, query, pattern, reason))
    return out


@pytest.fixture(scope="session")
def real_detections(pack):
    ready, why = backend_ready()
    if not ready:
        pytest.fail(why)  # the backend is part of this project: its absence is a failure
    from release_helpers import release_for

    from cloudtrail_pack.artifacts import cloudwatch

    return cloudwatch.collect(release_for(pack, cloudwatch))


@pytest.fixture(scope="session", params=["hand", "backend"])
def detections(request, pack):
    """Both sources: hand-written stand-ins (the writers alone), and the backend's real output."""
    if request.param == "hand":
        return request.getfixturevalue("hand_detections")
    return request.getfixturevalue("real_detections")


@pytest.fixture(scope="session")
def cloudwatch_dir(tmp_path_factory, detections):
    from cloudtrail_pack.artifacts.cloudwatch import write_detections
    from cloudtrail_pack.pack import pack_version

    out = tmp_path_factory.mktemp("cloudwatch")
    write_detections(detections, out, pack_version())
    return out
