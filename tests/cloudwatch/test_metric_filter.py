"""Metric filter patterns: what the JSON filter pattern language can express, checked by the filter pattern
evaluator, and clear refusals for the rest."""

from __future__ import annotations

import pytest
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from evaluators import metric_filter as mf


def pattern(convert, detection: str) -> str:
    (out,) = convert(detection, "metric_filter")
    mf.parse(out)  # every pattern the backend writes parses
    return out


def test_single_condition(convert):
    assert pattern(convert, "sel:\n    eventName: LeaveOrganization\ncondition: sel") == (
        '{ $.eventName = "LeaveOrganization" }'
    )


def test_and_or_nesting(convert):
    assert pattern(
        convert,
        """
        sel:
            eventSource: iam.amazonaws.com
        del:
            eventName: DeleteAccessKey
        upd:
            eventName: UpdateAccessKey
            requestParameters.status|cased: Inactive
        condition: sel and (del or upd)
        """,
    ) == (
        '{ ($.eventSource = "iam.amazonaws.com") && (($.eventName = "DeleteAccessKey") || '
        '(($.eventName = "UpdateAccessKey") && ($.requestParameters.status = "Inactive"))) }'
    )


def test_value_list(convert):
    assert pattern(convert, "sel:\n    eventName: [DeleteLoginProfile, UpdateLoginProfile]\ncondition: sel") == (
        '{ ($.eventName = "DeleteLoginProfile") || ($.eventName = "UpdateLoginProfile") }'
    )


def test_negation_also_matches_absent_and_null_fields(convert):
    out = pattern(
        convert,
        """
        sel:
            eventSource: s3.amazonaws.com
        filter:
            userIdentity.type|cased: AssumedRole
        condition: sel and not filter
        """,
    )
    assert out == (
        '{ ($.eventSource = "s3.amazonaws.com") && (($.userIdentity.type != "AssumedRole") || '
        "($.userIdentity.type NOT EXISTS) || ($.userIdentity.type IS NULL)) }"
    )
    assert mf.matches(out, {"eventSource": "s3.amazonaws.com", "userIdentity": {"type": "IAMUser"}})
    assert mf.matches(out, {"eventSource": "s3.amazonaws.com", "userIdentity": {}})
    assert mf.matches(out, {"eventSource": "s3.amazonaws.com", "userIdentity": {"type": None}})
    assert not mf.matches(out, {"eventSource": "s3.amazonaws.com", "userIdentity": {"type": "AssumedRole"}})


def test_de_morgan(convert_bare):
    (out,) = convert_bare("sel:\n    fieldA|cased: a\n    fieldB|cased: b\ncondition: not sel", "metric_filter")
    assert out == (
        '{ ($.fieldA != "a") || ($.fieldA NOT EXISTS) || ($.fieldA IS NULL) || '
        '($.fieldB != "b") || ($.fieldB NOT EXISTS) || ($.fieldB IS NULL) }'
    )


@pytest.mark.parametrize(
    "modifier, term",
    [("startswith", '"Delete*"'), ("endswith", '"*User"'), ("contains", '"*User*"')],
)
def test_wildcards_at_the_ends(convert, modifier, term):
    assert pattern(convert, f"sel:\n    eventName|{modifier}: {'Delete' if modifier == 'startswith' else 'User'}\ncondition: sel") == (
        f"{{ $.eventName = {term} }}"
    )


def test_quotes_and_backslashes_are_escaped(convert_bare):
    (out,) = convert_bare("sel:\n    fieldA|cased: 'a\"b\\\\c'\ncondition: sel", "metric_filter")
    assert out == '{ $.fieldA = "a\\"b\\\\c" }'
    assert mf.matches(out, {"fieldA": 'a"b\\c'})


def test_array_element_selector(convert_bare):
    (out,) = convert_bare("sel:\n    resources.0.ARN|cased: x\ncondition: sel", "metric_filter")
    assert out == '{ $.resources[0].ARN = "x" }'


def test_numbers_and_comparisons(convert_bare):
    (out,) = convert_bare("sel:\n    fieldA: 5\n    fieldB|gte: 10\ncondition: sel", "metric_filter")
    assert out == "{ ($.fieldA = 5) && ($.fieldB >= 10) }"


def test_boolean(convert_bare):
    (out,) = convert_bare("sel:\n    fieldA: true\ncondition: sel", "metric_filter")
    assert out == "{ $.fieldA IS TRUE }"


def test_null_exists(convert_bare):
    (out,) = convert_bare("sel:\n    fieldA: null\n    fieldB|exists: true\ncondition: sel", "metric_filter")
    assert out == "{ (($.fieldA NOT EXISTS) || ($.fieldA IS NULL)) && ($.fieldB = *) }"


def test_values_without_letters_need_no_folding(convert):
    assert pattern(convert, "sel:\n    recipientAccountId: '111122223333'\ncondition: sel") == (
        '{ $.recipientAccountId = "111122223333" }'
    )


REFUSALS = [
    ("sel:\n    userIdentity.type: Root\ncondition: sel", "case-insensitively but filter patterns are case-sensitive"),
    ("sel:\n    userAgent|re: 'a.b'\ncondition: sel", "regular expressions"),
    ("sel:\n    sourceIPAddress|cidr: 192.0.2.0/24\ncondition: sel", "CIDR"),
    ("sel:\n    userIdentity.arn|fieldref: requestParameters.userName\ncondition: sel", "field references"),
    ("keywords:\n    - '123'\ncondition: keywords", "keywords"),
    ("sel:\n    eventName: 'Delete?User'\ncondition: sel", "'\\?' wildcards"),
    ("sel:\n    eventName: 'Delete*User'\ncondition: sel", "'\\*' inside a value"),
    ("sel:\n    responseElements.count|gt: 1\ncondition: not sel", "negated numeric comparison"),
]


@pytest.mark.parametrize("detection, reason", REFUSALS, ids=[r[1][:30] for r in REFUSALS])
def test_refusals(convert, detection, reason):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=f"metric filter pattern: .*{reason}"):
        convert(detection, "metric_filter")


def test_pattern_length_limit(convert):
    names = "\n".join(f"        - Api{i:04d}Call" for i in range(80))
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="at most 1024"):
        convert(f"sel:\n    eventName:\n{names}\ncondition: sel", "metric_filter")


def test_every_pack_rule_has_a_pattern_or_a_reason(pack):
    """The pack's base rules on canonical fields have patterns; the others are refused with a reason."""
    from cloudtrail_pack.pack import PackError
    from cloudtrail_pack.compilation import compile_rules

    outcome = {}
    for rule in pack.rules:
        try:
            (outcome[rule.rule.name or rule.path.stem],) = compile_rules(pack, "cloudwatch", "metric_filter", rules=[rule])[rule.id]
        except PackError as e:
            assert isinstance(e.__cause__, SigmaFeatureNotSupportedByBackendError)
            outcome[rule.rule.name or rule.path.stem] = str(e.__cause__).split(":")[0]
    assert outcome == {
        "aws_iam_user_access_key_removed": "metric filter pattern",  # any-case Inactive; a field reference
        "aws_iam_user_deleted": '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }',
        "aws_iam_user_login_profile_removed_or_changed": "metric filter pattern",  # a field reference (self-service)
        "aws_iam_user_mfa_deactivated": "metric filter pattern",  # a field reference (self-service)
        "aws_organizations_account_removed": '{ ($.eventSource = "organizations.amazonaws.com") && '
        '($.eventName = "RemoveAccountFromOrganization") }',
        "aws_organizations_leave_organization": '{ ($.eventSource = "organizations.amazonaws.com") && '
        '($.eventName = "LeaveOrganization") }',
        "aws_iam_user_deleted_mass": "metric filter pattern",
        "aws_iam_deny_all_managed_policy_applied": "metric filter pattern",  # any-case policy ARN
        "aws_iam_inline_deny_all_policy_put": "metric filter pattern",  # a regular expression with groups
        "aws_iam_user_removed_from_group": '{ ($.eventSource = "iam.amazonaws.com") && '
        '($.eventName = "RemoveUserFromGroup") }',
        "aws_identitycenter_user_deleted_or_disabled": '{ (($.eventSource = "identitystore.amazonaws.com") && '
        '($.eventName = "DeleteUser")) || (($.eventSource = "sso-directory.amazonaws.com") && '
        '(($.eventName = "DeleteUser") || ($.eventName = "DisableUser"))) }',
        "aws_organizations_account_created": '{ ($.eventSource = "organizations.amazonaws.com") && '
        '(($.eventName = "CreateAccount") || ($.eventName = "CreateGovCloudAccount")) }',
        "aws_organizations_account_invited": '{ ($.eventSource = "organizations.amazonaws.com") && '
        '($.eventName = "InviteAccountToOrganization") }',
        "aws_organizations_invitation_accepted": "metric filter pattern",  # any-case handshake action
        "aws_organizations_account_moved": '{ ($.eventSource = "organizations.amazonaws.com") && ($.eventName = "MoveAccount") }',
        # correlations whose counted rules have no pattern (the compilation reports the counted rule's refusal first)
        "aws_iam_access_removed_distinct_users": "a rule it counts is not available in CloudWatch Logs Insights",
        "aws_iam_user_credentials_removed_then_deleted": "a rule it counts is not available in CloudWatch Logs Insights",
    }


def test_a_field_reference_is_refused_before_a_value_that_needs_folding(convert):
    """No pattern can compare two fields, whatever else the rule holds: that is the reason given."""
    detection = (
        "sel:\n    eventName: DeactivateMFADevice\n"
        "filter:\n    userIdentity.type: IAMUser\n    requestParameters.userName|fieldref: userIdentity.userName\n"
        "condition: sel and not filter"
    )
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=r"field references \(requestParameters.userName\|fieldref\)"):
        convert(detection, "metric_filter")


# --- one pattern per outcome (the CloudWatch writer's two alarms) ------------------------------------------

RULE_PATTERN = '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser") }'


def test_failed_calls_pattern_adds_errorcode_exists():
    from sigma.backends.cloudwatch.metric_filter import with_outcome

    assert with_outcome(RULE_PATTERN, failed=True) == (
        '{ (($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser")) && ($.errorCode = *) }'
    )


def test_successful_calls_pattern_adds_errorcode_absent():
    from sigma.backends.cloudwatch.metric_filter import with_outcome

    assert with_outcome(RULE_PATTERN, failed=False) == (
        '{ (($.eventSource = "iam.amazonaws.com") && ($.eventName = "DeleteUser")) && '
        "(($.errorCode NOT EXISTS) || ($.errorCode IS NULL)) }"
    )


@pytest.mark.parametrize("error_code", [None, "AccessDenied", "NoSuchEntityException"])
def test_the_two_outcome_patterns_split_the_rules_events(error_code):
    from sigma.backends.cloudwatch.metric_filter import with_outcome

    record = {"eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}
    if error_code:
        record["errorCode"] = error_code
    matched = [mf.parse(with_outcome(RULE_PATTERN, failed)).matches(record) for failed in (False, True)]
    assert matched == [error_code is None, error_code is not None]


def test_with_outcome_refuses_text_that_is_not_a_pattern():
    from sigma.backends.cloudwatch.metric_filter import with_outcome

    with pytest.raises(ValueError, match="not a filter pattern"):
        with_outcome('$.eventName = "DeleteUser"', failed=True)
