"""Shared fixtures for the release-artifact tests: CloudWatch detections by hand and from the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

# What the CloudWatch backend gives for each rule, written by hand: the writers' tests run on these whether
# or not the backend is installed; tests marked with `real_detections` use the backend's own output.
HAND_QUERIES = {
    "aws_iam_user_access_key_removed": (
        'fields @timestamp, eventName, userIdentity.arn, requestParameters.userName\n'
        '| filter eventSource = "iam.amazonaws.com" and (eventName = "DeleteAccessKey" or '
        '(eventName = "UpdateAccessKey" and requestParameters.status = "Inactive"))',
        '{ ($.eventSource = "iam.amazonaws.com") && (($.eventName = "DeleteAccessKey") || '
        '(($.eventName = "UpdateAccessKey") && ($.requestParameters.status = "Inactive"))) }',
    ),
    "aws_iam_user_deleted": (
        'fields @timestamp, userIdentity.arn, requestParameters.userName\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"',
        '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }',
    ),
    "aws_iam_user_login_profile_removed_or_changed": (
        'fields @timestamp, eventName, userIdentity.arn\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName in ["DeleteLoginProfile", "UpdateLoginProfile"]',
        '{ ($.eventSource = "iam.amazonaws.com") && (($.eventName = "DeleteLoginProfile") || '
        '($.eventName = "UpdateLoginProfile")) }',
    ),
    "aws_iam_user_mfa_deactivated": (
        'fields @timestamp, userIdentity.arn, requestParameters.serialNumber\n'
        '| filter eventSource = "iam.amazonaws.com" and eventName = "DeactivateMFADevice"',
        '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeactivateMFADevice") }',
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
}


def cloudwatch_formats() -> set[str]:
    """Output formats of the installed CloudWatch backend (empty: not installed yet)."""
    from cloudtrail_pack.artifacts.cloudwatch import backend_formats
    from cloudtrail_pack.pack import PackError

    try:
        return backend_formats()
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
    from cloudtrail_pack.artifacts.cloudwatch import collect

    return collect(pack)


@pytest.fixture(scope="session", params=["hand", "backend"])
def detections(request, pack):
    """Both sources: hand-written stand-ins (the writers alone), and the backend's real output."""
    if request.param == "hand":
        return request.getfixturevalue("hand_detections")
    return request.getfixturevalue("real_detections")


@pytest.fixture(scope="session")
def cloudwatch_dir(tmp_path_factory, detections):
    from cloudtrail_pack.artifacts.cloudwatch import pack_version, write_detections

    out = tmp_path_factory.mktemp("cloudwatch")
    write_detections(detections, out, pack_version())
    return out


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tree_bytes():
    """{relative path: bytes} of every file under a folder."""
    return _tree_bytes
