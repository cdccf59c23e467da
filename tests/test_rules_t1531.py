"""T1531 without deleting the user: deny-all policies on users and groups, users removed from groups, IAM
Identity Center users deleted or disabled, and DeleteVirtualMFADevice kept as context. What each rule
means is judged by the reference engine (pySigma's SQLite backend); what each target ships or refuses is
spelled out."""

from __future__ import annotations

import itertools
import json

import pytest

from cloudtrail_pack.compilation import Refusal, compile_pack
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.registry import TARGETS
from fixture_corpus import FIXTURE_FILES

DENY_ALL_MANAGED = "2533034e-2e5d-4c36-826e-833fa03805ca"
INLINE_DENY_ALL = "eb97df7b-7184-425f-bbec-773cb636a809"
REMOVED_FROM_GROUP = "b760cd32-64ac-448b-a8d5-c1149d6f9e9a"
IDENTITY_CENTER = "8b0db258-7a90-4f6d-8c9a-8be24495b152"

_ids = (f"00000000-0000-4000-8000-{n:012d}" for n in itertools.count())


def record(source: str, name: str, params: dict) -> dict:
    return {
        "eventVersion": "1.11",
        "eventID": next(_ids),
        "eventTime": "2025-12-09T13:31:17Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/ops-admin",
                         "accountId": "111122223333", "userName": "ops-admin"},
        "requestParameters": params,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }


def matches(engine: ReferenceEngine, r: dict) -> bool:
    return bool(engine.run([r]).matches[r["eventID"]])


@pytest.fixture(scope="module")
def engine(pack):
    """The reference engine narrowed to one rule: `engine(rule_id)`."""
    cache: dict[str, ReferenceEngine] = {}

    def get(rule_id: str) -> ReferenceEngine:
        if rule_id not in cache:
            cache[rule_id] = ReferenceEngine(pack, rules=[pack.by_id(rule_id)])
        return cache[rule_id]

    return get


def result(pack, rule_id: str, target: str, output_format: str = "default"):
    return compile_pack(pack, [(TARGETS[target], output_format)], [pack.by_id(rule_id)]).result(rule_id, target, output_format)


# --- the inline deny-all policy ------------------------------------------------------------------------

def doc(*statements, indent=None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=indent)


DENY_ALL = {"Effect": "Deny", "Action": "*", "Resource": "*"}
DENY_ALL_DOCUMENTS = {
    # AWS's own AWSDenyAll document, as the managed policy reference prints it
    "aws-denyall-text": '{ "Version" : "2012-10-17", "Statement" : [ { "Sid" : "DenyAll", "Effect" : "Deny", '
    '"Action" : [ "*" ], "Resource" : "*" } ] }',
    # Panther's test record: tab-indented, one-element lists
    "tabs-and-lists": '{\n\t"Version": "2012-10-17",\n\t"Statement": [\n\t\t{\n\t\t\t"Sid": "TestUserDenyAll",\n'
    '\t\t\t"Effect": "Deny",\n\t\t\t"Action": ["*"],\n\t\t\t"Resource": ["*"]\n\t\t}\n\t]\n}',
    "compact-strings": doc(DENY_ALL).replace(" ", ""),
    "statement-object-other-order-crlf": '{\r\n"Statement": {\r\n  "Resource": [ "*" ],\r\n  "Action": "*",\r\n'
    '  "Effect": "Deny"\r\n}\r\n}',
    "star-among-listed-actions": doc({"Effect": "Deny", "Action": ["s3:GetObject", "*"], "Resource": "*"}),
    "second-statement": doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, DENY_ALL, indent=2),
}
NOT_DENY_ALL_DOCUMENTS = {
    "allow-all": doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    "deny-with-condition-after": doc({**DENY_ALL, "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}}}),
    "deny-with-condition-before": doc({"Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}, **DENY_ALL}),
    "deny-not-action": doc({"Effect": "Deny", "NotAction": ["iam:ChangePassword"], "Resource": "*"}),
    "deny-all-on-named-resources": doc({"Effect": "Deny", "Action": "*", "Resource": ["arn:aws:s3:::payroll/*"]}),
    "deny-all-not-resource": doc({"Effect": "Deny", "Action": "*", "NotResource": "*"}),
    # the three words are in the document, but in no one statement
    "allow-all-plus-deny-s3": doc({"Effect": "Allow", "Action": "*", "Resource": "*"},
                                  {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}),
    # AWS's exposed-credential quarantine: wildcard actions, never "*" alone
    "listed-wildcard-actions": doc({"Effect": "Deny", "Action": ["lightsail:Create*", "iam:*"], "Resource": ["*"]}),
    # IAM reads Effect case-sensitively and rejects this document (MalformedPolicyDocument)
    "effect-in-lower-case": doc({"Effect": "deny", "Action": "*", "Resource": "*"}),
    # not JSON whitespace (RFC 8259): IAM cannot parse it; a \s-based pattern would have matched it in Python
    "no-break-space": '{"Statement":[{"Effect":\u00a0"Deny","Action":"*","Resource":"*"}]}',
}


@pytest.mark.parametrize("document", DENY_ALL_DOCUMENTS.values(), ids=DENY_ALL_DOCUMENTS)
def test_inline_rule_matches_a_deny_all_document_however_it_is_spelled(engine, document):
    assert matches(engine(INLINE_DENY_ALL), record("iam.amazonaws.com", "PutUserPolicy", {"userName": "u", "policyDocument": document}))


@pytest.mark.parametrize("document", NOT_DENY_ALL_DOCUMENTS.values(), ids=NOT_DENY_ALL_DOCUMENTS)
def test_inline_rule_stays_silent_on_a_policy_that_does_not_deny_everything(engine, document):
    assert not matches(engine(INLINE_DENY_ALL), record("iam.amazonaws.com", "PutUserPolicy", {"userName": "u", "policyDocument": document}))


def test_inline_rule_covers_groups(engine):
    assert matches(engine(INLINE_DENY_ALL), record("iam.amazonaws.com", "PutGroupPolicy", {"groupName": "g", "policyDocument": doc(DENY_ALL)}))


def test_inline_rule_covers_roles(engine):
    """Roles are locked out like users: every session of the role can do nothing."""
    assert matches(engine(INLINE_DENY_ALL), record("iam.amazonaws.com", "PutRolePolicy", {"roleName": "r", "policyDocument": doc(DENY_ALL)}))


#: The console's Revoke active sessions, as the IAM User Guide prints it ("Revoking IAM role temporary security
#: credentials"): a deny of everything only to sessions issued before a time.
REVOKE_OLDER_SESSIONS = (
    '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", '
    '"Condition": {"DateLessThan": {"aws:TokenIssueTime": "2014-05-07T23:47:00Z"}}}}'
)


@pytest.mark.parametrize("name", ["PutRolePolicy", "PutUserPolicy"])
def test_inline_rule_stays_silent_on_revoke_older_sessions(engine, name):
    params = {"roleName" if name == "PutRolePolicy" else "userName": "r", "policyName": "AWSRevokeOlderSessions",
              "policyDocument": REVOKE_OLDER_SESSIONS}
    assert not matches(engine(INLINE_DENY_ALL), record("iam.amazonaws.com", name, params))


def test_inline_rule_cloudwatch_query_filters_with_the_rules_expression(pack):
    regex = pack.by_id(INLINE_DENY_ALL).rule.detection.detections["selection"].detection_items[2].value[0].regexp
    (query,) = result(pack, INLINE_DENY_ALL, "cloudwatch").queries
    assert query.splitlines()[1] == (
        '| filter eventSource = "iam.amazonaws.com" and eventName in ["PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"] and '
        f"requestParameters.policyDocument like /{regex}/"
    )


def test_inline_rule_splunk_search_runs_the_expression_as_its_own_command(pack):
    (query,) = result(pack, INLINE_DENY_ALL, "splunk").queries
    lines = query.splitlines()
    assert lines[0] == '`cloudtrail_detection_pack_cloudtrail` (eventSource="iam.amazonaws.com" AND eventName IN ("PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"))'
    assert lines[1].startswith('| regex requestParameters.policyDocument="\\\\{[^{}]*(?:\\"Effect\\"[ \\\\t\\\\r\\\\n]*:')


def test_inline_rule_is_refused_by_eql_only_with_the_reason(pack):
    """Lucene and ES|QL run the expression on the keyword rendering (elastic_rendered.py); EQL's backend writes the
    case-insensitive regex~, while IAM reads "Effect" and "Deny" case-sensitively."""
    assert result(pack, INLINE_DENY_ALL, "eql") == Refusal(
        "ecs_cloudtrail: requestParameters.policyDocument|re: pysigma-backend-elasticsearch writes every EQL regular "
        "expression with regex~, which ignores ASCII case, while this one is case-sensitive (add |i if the letter case "
        "does not matter)"
    )
    for target in ("lucene", "esql"):
        (query,) = result(pack, INLINE_DENY_ALL, target).queries
        assert "aws.cloudtrail.request_parameters" in query and "policyDocument" in query


def test_inline_rule_has_no_metric_filter(pack):
    assert result(pack, INLINE_DENY_ALL, "cloudwatch", "metric_filter") == Refusal(
        "metric filter pattern: regular expressions (requestParameters.policyDocument|re) are not converted: "
        "filter-pattern regex is a small subset of PCRE (no groups, no flags) with a quota of two per pattern and "
        "five per log group"
    )


# --- AWSDenyAll ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, params",
    [
        ("AttachUserPolicy", {"userName": "u", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("AttachGroupPolicy", {"groupName": "g", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("PutUserPermissionsBoundary", {"userName": "u", "permissionsBoundary": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("AttachUserPolicy", {"userName": "u", "policyArn": "arn:aws-us-gov:iam::aws:policy/AWSDenyAll"}),
        ("AttachUserPolicy", {"userName": "u", "policyArn": "arn:aws-cn:iam::aws:policy/AWSDenyAll"}),
        ("AttachRolePolicy", {"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("PutRolePermissionsBoundary", {"roleName": "r", "permissionsBoundary": "arn:aws-us-gov:iam::aws:policy/AWSDenyAll"}),
    ],
)
def test_deny_all_managed_rule_matches_the_policy_attached_or_set_as_boundary(engine, name, params):
    assert matches(engine(DENY_ALL_MANAGED), record("iam.amazonaws.com", name, params))


@pytest.mark.parametrize(
    "name, params",
    [
        ("DetachRolePolicy", {"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("DeleteRolePermissionsBoundary", {"roleName": "r"}),
        ("DetachUserPolicy", {"userName": "u", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}),
        ("AttachUserPolicy", {"userName": "u", "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"}),
        ("AttachUserPolicy", {"userName": "u", "policyArn": "arn:aws:iam::111122223333:policy/AWSDenyAll"}),
        ("PutUserPermissionsBoundary", {"userName": "u", "permissionsBoundary": "arn:aws:iam::111122223333:policy/DenyAll"}),
    ],
    ids=["role-detached", "role-boundary-deleted", "detached", "quarantine-policy", "customer-policy-named-AWSDenyAll", "customer-boundary"],
)
def test_deny_all_managed_rule_stays_silent_on_other_policies_and_principals(engine, name, params):
    assert not matches(engine(DENY_ALL_MANAGED), record("iam.amazonaws.com", name, params))


def test_deny_all_managed_rule_lucene_query_matches_the_arns_exactly(pack):
    arns = (
        "arn\\:aws\\:iam\\:\\:aws\\:policy\\/AWSDenyAll OR arn\\:aws\\-cn\\:iam\\:\\:aws\\:policy\\/AWSDenyAll OR "
        "arn\\:aws\\-us\\-gov\\:iam\\:\\:aws\\:policy\\/AWSDenyAll"
    )
    assert result(pack, DENY_ALL_MANAGED, "lucene").queries == (
        "event.provider:iam.amazonaws.com AND (((event.action:(AttachUserPolicy OR AttachGroupPolicy OR AttachRolePolicy)) AND "
        f"(aws.cloudtrail.flattened.request_parameters.policyArn:({arns}))) OR "
        "((event.action:(PutUserPermissionsBoundary OR PutRolePermissionsBoundary)) AND "
        f"(aws.cloudtrail.flattened.request_parameters.permissionsBoundary:({arns}))))",
    )


@pytest.mark.parametrize("target", ["eql", "esql"])
def test_deny_all_managed_rule_reads_the_rendering_in_eql_and_esql(pack, target):
    """EQL and ES|QL cannot read the flattened policyArn: the entry is matched in aws.cloudtrail.request_parameters."""
    (query,) = result(pack, DENY_ALL_MANAGED, target).queries
    assert "aws.cloudtrail.flattened" not in query
    assert "policyArn" in query and "permissionsBoundary" in query and "aws.cloudtrail.request_parameters" in query


# --- RemoveUserFromGroup -------------------------------------------------------------------------------

def test_group_removal_is_context_not_an_alert(pack):
    """The event cannot say what the group granted: the rule is informational (Sigma: no alert expected)."""
    assert pack.by_id(REMOVED_FROM_GROUP).level == "informational"


def test_group_removal_names_the_target_user_for_the_distinct_users_correlation(pack):
    assert "requestParameters.userName" in pack.by_id(REMOVED_FROM_GROUP).rule.fields


# --- IAM Identity Center -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source, name",
    [
        ("identitystore.amazonaws.com", "DeleteUser"),
        ("sso-directory.amazonaws.com", "DeleteUser"),
        ("sso-directory.amazonaws.com", "DisableUser"),
    ],
)
def test_identity_center_rule_matches_each_documented_call(engine, source, name):
    assert matches(engine(IDENTITY_CENTER), record(source, name, {"identityStoreId": "d-93671c0ffe", "userId": "u-1"}))


@pytest.mark.parametrize(
    "source, name",
    [
        # an external identity provider deprovisioning through SCIM: detect it in the provider's audit log
        ("identitystore-scim.amazonaws.com", "DeleteUser"),
        ("identitystore.amazonaws.com", "DeleteGroupMembership"),
        ("sso-directory.amazonaws.com", "EnableUser"),
        ("iam.amazonaws.com", "DeleteUser"),
    ],
)
def test_identity_center_rule_stays_silent_on_other_calls(engine, source, name):
    assert not matches(engine(IDENTITY_CENTER), record(source, name, {"identityStoreId": "d-93671c0ffe", "userId": "u-1"}))


def test_identity_center_rule_eql_query(pack):
    assert result(pack, IDENTITY_CENTER, "eql").queries == (
        'any where (event.provider:"identitystore.amazonaws.com" and event.action:"DeleteUser") or '
        '(event.provider:"sso-directory.amazonaws.com" and (event.action like~ ("DeleteUser", "DisableUser")))',
    )


def test_identity_center_rule_metric_filter(pack):
    assert result(pack, IDENTITY_CENTER, "cloudwatch", "metric_filter").queries == (
        '{ (($.eventSource = "identitystore.amazonaws.com") && ($.eventName = "DeleteUser")) || '
        '(($.eventSource = "sso-directory.amazonaws.com") && (($.eventName = "DeleteUser") || '
        '($.eventName = "DisableUser"))) }',
    )


# --- DeleteVirtualMFADevice: context, not an alert ----------------------------------------------------

def test_no_rule_alerts_on_a_virtual_mfa_device_deletion(reference):
    """A device still assigned cannot be deleted (DeleteConflict): deleting one follows DeactivateMFADevice,
    which alerts; deleting an unassigned device is clean-up (Elastic dropped it as a duplicate, PR 5275)."""
    deletions = [r for f in FIXTURE_FILES for r in f.records if r["eventName"] == "DeleteVirtualMFADevice"]
    assert len(deletions) >= 4  # success after deactivation, DeleteConflict, clean-up, in two formats
    assert all(not m for m in reference.run(deletions).matches.values())
