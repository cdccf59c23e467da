"""The CloudWatch Logs Insights backend, one behaviour per test, expected queries spelled out (pySigma style).

Rules go through the cloudwatch_cloudtrail pipeline (`convert`), so eventSource/eventName are canonical-case
(exact, case-sensitive comparisons) and every other field is matched case-insensitively, as Sigma requires;
`convert_bare` runs the backend without a pipeline, for what does not depend on CloudTrail.
"""

from __future__ import annotations

import pytest
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from .conftest import query

# ---- boolean structure ------------------------------------------------------------------------------------


def test_and(convert):
    assert convert(
        """
        sel:
            eventSource: iam.amazonaws.com
            eventName: DeleteUser
        condition: sel
        """
    ) == [query('eventSource = "iam.amazonaws.com" and eventName = "DeleteUser"')]


def test_or(convert):
    assert convert(
        """
        sel1:
            eventName: DeleteUser
        sel2:
            eventSource: sts.amazonaws.com
        condition: sel1 or sel2
        """
    ) == [query('eventName = "DeleteUser" or eventSource = "sts.amazonaws.com"')]


def test_and_or(convert):
    assert convert(
        """
        sel1:
            eventSource: iam.amazonaws.com
        sel2:
            eventName: DeleteUser
        sel3:
            errorCode: '403'
        condition: sel1 and (sel2 or sel3)
        """
    ) == [query('eventSource = "iam.amazonaws.com" and (eventName = "DeleteUser" or errorCode = "403")')]


def test_or_and_is_parenthesized(convert):
    """Logs Insights does not document and/or precedence: every mixed and/or is grouped."""
    assert convert(
        """
        sel1:
            eventSource: iam.amazonaws.com
            eventName: DeleteUser
        sel2:
            eventSource: sts.amazonaws.com
            eventName: GetSessionToken
        condition: sel1 or sel2
        """
    ) == [
        query(
            '(eventSource = "iam.amazonaws.com" and eventName = "DeleteUser") or '
            '(eventSource = "sts.amazonaws.com" and eventName = "GetSessionToken")'
        )
    ]


def test_not_guards_the_comparison_with_ispresent(convert):
    """Sigma's `not field: x` matches events without the field; the guard makes that so in either reading of a
    comparison on a missing field (false, or unknown as in SQL)."""
    assert convert(
        """
        sel:
            eventSource: iam.amazonaws.com
        filter:
            userIdentity.type: AssumedRole
        condition: sel and not filter
        """
    ) == [
        query(
            'eventSource = "iam.amazonaws.com" and '
            'not (ispresent(userIdentity.type) and userIdentity.type like /(?i)\\AAssumedRole\\z/)'
        )
    ]


def test_not_of_a_group(convert):
    assert convert(
        """
        sel:
            eventSource: iam.amazonaws.com
        filter:
            eventName: DeleteUser
            errorCode: AccessDenied
        condition: sel and not filter
        """
    ) == [
        query(
            'eventSource = "iam.amazonaws.com" and not ((ispresent(eventName) and eventName = "DeleteUser") and '
            '(ispresent(errorCode) and errorCode like /(?i)\\AAccessDenied\\z/))'
        )
    ]


def test_unguarded_comparisons_outside_not(convert):
    assert convert(
        """
        sel:
            errorCode: AccessDenied
        condition: sel
        """
    ) == [query('errorCode like /(?i)\\AAccessDenied\\z/')]


# ---- values -----------------------------------------------------------------------------------------------


def test_in_list_for_canonical_values(convert):
    assert convert(
        """
        sel:
            eventName:
                - DeleteLoginProfile
                - UpdateLoginProfile
        condition: sel
        """
    ) == [query('eventName in ["DeleteLoginProfile", "UpdateLoginProfile"]')]


def test_in_list_under_not_is_guarded(convert):
    assert convert(
        """
        sel:
            eventSource: iam.amazonaws.com
        filter:
            eventName: [ListUsers, GetUser]
        condition: sel and not filter
        """
    ) == [query('eventSource = "iam.amazonaws.com" and not (ispresent(eventName) and eventName in ["ListUsers", "GetUser"])')]


def test_case_insensitive_list_is_an_or_of_regexes(convert):
    assert convert(
        """
        sel:
            userIdentity.type: [Root, IAMUser]
        condition: sel
        """
    ) == [query('userIdentity.type like /(?i)\\ARoot\\z/ or userIdentity.type like /(?i)\\AIAMUser\\z/')]


def test_case_insensitive_equality_is_an_anchored_regex(convert):
    assert convert(
        """
        sel:
            requestParameters.userName: Alice
        condition: sel
        """
    ) == [query('requestParameters.userName like /(?i)\\AAlice\\z/')]


def test_value_without_letters_is_compared_exactly(convert):
    """No letter has another case form, so case-insensitive and exact matching are the same."""
    assert convert(
        """
        sel:
            recipientAccountId: '111122223333'
        condition: sel
        """
    ) == [query('recipientAccountId = "111122223333"')]


def test_contains(convert):
    assert convert(
        """
        sel:
            userAgent|contains: S3 Browser
        condition: sel
        """
    ) == [query('userAgent like /(?i)S3 Browser/')]


def test_contains_without_letters_is_a_like_substring(convert):
    assert convert(
        """
        sel:
            sourceIPAddress|contains: '203.0.113.'
        condition: sel
        """
    ) == [query('sourceIPAddress like "203.0.113."')]


def test_startswith(convert):
    assert convert(
        """
        sel:
            userAgent|startswith: aws-cli/
        condition: sel
        """
    ) == [query('userAgent like /(?i)\\Aaws-cli\\//')]


def test_endswith(convert):
    assert convert(
        """
        sel:
            userIdentity.arn|endswith: ':root'
        condition: sel
        """
    ) == [query('userIdentity.arn like /(?i):root\\z/')]


def test_canonical_startswith_is_case_sensitive(convert):
    assert convert(
        """
        sel:
            eventName|startswith: Delete
        condition: sel
        """
    ) == [query('eventName like /\\ADelete/')]


def test_wildcards_inside_a_value(convert):
    assert convert(
        """
        sel:
            userIdentity.arn: 'arn:aws:iam::*:user/adm?n'
        condition: sel
        """
    ) == [query('userIdentity.arn like /(?is)\\Aarn:aws:iam::.*:user\\/adm.n\\z/')]


def test_escaped_wildcards_are_literal(convert):
    assert convert(
        """
        sel:
            requestParameters.policyName: 'a\\*b\\?c'
        condition: sel
        """
    ) == [query('requestParameters.policyName like /(?i)\\Aa\\*b\\?c\\z/')]


def test_regex_metacharacters_in_values_are_escaped(convert):
    assert convert(
        """
        sel:
            requestParameters.roleName: 'a.b+c(d)[e]{f}|g^h$'
        condition: sel
        """
    ) == [query('requestParameters.roleName like /(?i)\\Aa\\.b\\+c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$\\z/')]


def test_quotes_and_backslashes_force_a_regex(convert):
    """Logs Insights documents no escape inside "...": such values are matched with a regex instead."""
    assert convert(
        """
        sel:
            requestParameters.description|cased: 'say "hi" C:\\dir'
        condition: sel
        """
    ) == [query('requestParameters.description like /\\Asay "hi" C:\\\\dir\\z/')]


def test_newline_is_escaped(convert_bare):
    assert convert_bare(
        """
        sel:
            fieldA|cased: "a\\nb"
        condition: sel
        """
    ) == [query('fieldA like /\\Aa\\nb\\z/')]


def test_unicode_letters_spell_out_their_case_forms(convert):
    assert convert(
        """
        sel:
            requestParameters.userName: José
        condition: sel
        """
    ) == [query('requestParameters.userName like /(?i)\\AJos(?:É|é)\\z/')]


def test_empty_string(convert):
    assert convert(
        """
        sel:
            errorMessage: ''
        condition: sel
        """
    ) == [query('errorMessage = ""')]


def test_lone_wildcard_matches_any_value(convert):
    assert convert(
        """
        sel:
            errorCode: '*'
        condition: sel
        """
    ) == [query("ispresent(errorCode)")]


def test_number(convert):
    assert convert(
        """
        sel:
            responseElements.port: 22
        condition: sel
        """
    ) == [query("responseElements.port = 22")]


def test_cased(convert):
    assert convert(
        """
        sel:
            userAgent|cased: Boto3
        condition: sel
        """
    ) == [query('userAgent = "Boto3"')]


def test_cased_contains_is_a_like_substring(convert):
    assert convert(
        """
        sel:
            userAgent|cased|contains: Boto3
        condition: sel
        """
    ) == [query('userAgent like "Boto3"')]


def test_all(convert):
    assert convert(
        """
        sel:
            userAgent|contains|all:
                - aws-cli
                - Linux
        condition: sel
        """
    ) == [query('userAgent like /(?i)aws-cli/ and userAgent like /(?i)Linux/')]


def test_windash(convert):
    assert convert(
        """
        sel:
            userAgent|windash|contains: ' -1'
        condition: sel
        """
    ) == [
        query(
            'userAgent like " -1" or userAgent like " /1" or userAgent like " –1" or userAgent like " —1" '
            'or userAgent like " ―1"'
        )
    ]


def test_windash_under_not_negates_the_whole_expansion(convert):
    (out,) = convert(
        """
        sel:
            userAgent|windash|contains: ' -1'
        condition: not sel
        """
    )
    assert out.startswith('fields @timestamp, @message\n| filter not ((ispresent(userAgent) and userAgent like " -1") or ')


def test_base64offset(convert):
    assert convert(
        """
        sel:
            requestParameters.userData|base64offset|contains: 'curl'
        condition: sel
        """
    ) == [
        query(
            'requestParameters.userData like /(?i)Y3Vyb/ or requestParameters.userData like /(?i)N1cm/ or '
            'requestParameters.userData like /(?i)jdXJs/'
        )
    ]


# ---- regular expressions ------------------------------------------------------------------------------------


def test_regex(convert):
    assert convert(
        """
        sel:
            userIdentity.arn|re: '.+:assumed-role/aws:.+'
        condition: sel
        """
    ) == [query("userIdentity.arn like /.+:assumed-role\\/aws:.+/")]


def test_regex_flags(convert):
    assert convert(
        """
        sel:
            userAgent|re|i|m|s: '^boto.*linux$'
        condition: sel
        """
    ) == [query("userAgent like /(?ims)^boto.*linux$/")]


def test_regex_escaped_slash_is_kept(convert):
    assert convert(
        """
        sel:
            userAgent|re: 'a\\/b'
        condition: sel
        """
    ) == [query("userAgent like /a\\/b/")]


def test_regex_under_not_is_guarded(convert):
    assert convert(
        """
        sel:
            eventSource: iam.amazonaws.com
        filter:
            userAgent|re: '^Mozilla'
        condition: sel and not filter
        """
    ) == [query('eventSource = "iam.amazonaws.com" and not (ispresent(userAgent) and userAgent like /^Mozilla/)')]


@pytest.mark.parametrize(
    "regex, construct",
    [
        ("(?=a)b", "lookahead"),
        ("(?<!a)b", "lookbehind"),
        ("(a)\\1", "backreferences"),
        ("a++", "possessive"),
        ("(?>ab)", "atomic groups"),
    ],
)
def test_regex_hyperscan_cannot_run_is_refused(convert, regex, construct):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=construct):
        convert(
            f"""
            sel:
                userAgent|re: '{regex}'
            condition: sel
            """
        )


# ---- other modifiers ----------------------------------------------------------------------------------------


def test_cidr(convert):
    assert convert(
        """
        sel:
            sourceIPAddress|cidr: 192.0.2.0/24
        condition: sel
        """
    ) == [query('isIpInSubnet(sourceIPAddress, "192.0.2.0/24")')]


def test_cidr_ipv6_and_not(convert):
    assert convert(
        """
        sel:
            sourceIPAddress|cidr: '2001:db8::/32'
        condition: not sel
        """
    ) == [query('not isIpInSubnet(sourceIPAddress, "2001:db8::/32")')]


@pytest.mark.parametrize("modifier, op", [("lt", "<"), ("lte", "<="), ("gt", ">"), ("gte", ">=")])
def test_compare(convert, modifier, op):
    assert convert(
        f"""
        sel:
            responseElements.count|{modifier}: 10
        condition: sel
        """
    ) == [query(f"responseElements.count {op} 10")]


def test_exists(convert):
    assert convert(
        """
        sel:
            errorCode|exists: true
        condition: sel
        """
    ) == [query("ispresent(errorCode)")]


def test_not_exists(convert):
    assert convert(
        """
        sel:
            errorCode|exists: false
        condition: sel
        """
    ) == [query("not ispresent(errorCode)")]


def test_null(convert):
    assert convert(
        """
        sel:
            eventName: DeleteBucket
        status_null:
            errorCode: null
        condition: sel and status_null
        """
    ) == [query('eventName = "DeleteBucket" and not ispresent(errorCode)')]


def test_not_null(convert):
    assert convert(
        """
        sel:
            errorCode: null
        condition: not sel
        """
    ) == [query("ispresent(errorCode)")]


def test_fieldref_compares_both_fields_lower_cased(convert):
    """Sigma compares case-insensitively; Logs Insights `=` does not, so both sides go through tolower()."""
    assert convert(
        """
        sel:
            userIdentity.userName|fieldref: requestParameters.userName
        condition: sel
        """
    ) == [query("tolower(userIdentity.userName) = tolower(requestParameters.userName)")]


def test_fieldref_under_not_guards_both_fields(convert):
    assert convert(
        """
        sel:
            eventName: UpdateLoginProfile
        filter:
            userIdentity.arn|fieldref: requestParameters.userName
        condition: sel and not filter
        """
    ) == [
        query(
            'eventName = "UpdateLoginProfile" and not (ispresent(userIdentity.arn) and '
            "ispresent(requestParameters.userName) and tolower(userIdentity.arn) = tolower(requestParameters.userName))"
        )
    ]


def test_fieldref_startswith_is_refused(convert_bare):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="field reference"):
        convert_bare(
            """
            sel:
                fieldA|fieldref|startswith: fieldB
            condition: sel
            """
        )


def test_boolean_is_refused(convert):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="JSON true/false"):
        convert(
            """
            sel:
                readOnly: false
            condition: sel
            """
        )


def test_timestamp_part_is_refused(convert):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="timestamp part"):
        convert(
            """
            sel:
                eventTime|hour: 3
            condition: sel
            """
        )


def test_unresolved_placeholder_is_refused(convert_bare):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="placeholder"):
        convert_bare(
            """
            sel:
                fieldA|expand: '%allowed%'
            condition: sel
            """
        )


# ---- keywords -----------------------------------------------------------------------------------------------


def test_keyword(convert):
    assert convert(
        """
        keywords:
            - TruffleHog
        condition: keywords
        """
    ) == [query("@message like /(?i)TruffleHog/")]


def test_keywords_or(convert):
    assert convert(
        """
        keywords:
            - TruffleHog
            - 'pacu*'
        condition: keywords
        """
    ) == [query("@message like /(?i)TruffleHog/ or @message like /(?is)pacu.*/")]


def test_keyword_is_matched_as_the_event_json_writes_it(convert):
    """@message is the event's JSON text, where a quote is written \\" and a backslash \\\\."""
    assert convert(
        """
        keywords:
            - 'a"b\\c'
        condition: keywords
        """
    ) == [query('@message like /(?i)a\\\\"b\\\\\\\\c/')]


def test_keyword_under_not(convert):
    assert convert(
        """
        sel:
            eventSource: sts.amazonaws.com
        keywords:
            - TruffleHog
        condition: sel and not keywords
        """
    ) == [query('eventSource = "sts.amazonaws.com" and not (@message like /(?i)TruffleHog/)')]


def test_keyword_number(convert):
    assert convert(
        """
        keywords:
            - 4625
        condition: keywords
        """
    ) == [query("@message like /4625/")]


def test_keyword_regex(convert):
    assert convert(
        """
        keywords:
            '|re': 'Truffle(Hog|Pig)'
        condition: keywords
        """
    ) == [query("@message like /Truffle(Hog|Pig)/")]


# ---- fields -------------------------------------------------------------------------------------------------


def test_field_with_characters_outside_alphanumerics_is_backticked(convert):
    assert convert(
        """
        sel:
            requestParameters.my-key_name: x
        condition: sel
        """
    ) == [query("`requestParameters.my-key_name` like /(?i)\\Ax\\z/")]


def test_field_named_like_a_keyword_is_backticked(convert_bare):
    """A bare `in` or `tolower` would be read as the operator or the function."""
    assert convert_bare(
        """
        sel:
            in|cased: x
            tolower|cased: y
        condition: sel
        """
    ) == [query('`in` = "x" and `tolower` = "y"')]


def test_array_element_field(convert_bare):
    """Logs Insights names array elements by index (`requestParameters.instancesSet.items.0.instanceId`)."""
    assert convert_bare(
        """
        sel:
            requestParameters.items.0.instanceId|endswith: '-0abc'
        condition: sel
        """
    ) == [query("requestParameters.items.0.instanceId like /(?i)-0abc\\z/")]


def test_rule_fields_are_displayed_after_timestamp(convert):
    assert convert(
        """
        sel:
            eventName: DeleteUser
        condition: sel
        """,
        fields=["userIdentity.arn", "requestParameters.userName", "@timestamp"],
    ) == [query('eventName = "DeleteUser"', fields="@timestamp, userIdentity.arn, requestParameters.userName")]


def test_backtick_in_field_name_is_refused(convert_bare):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="backticks"):
        convert_bare(
            """
            sel:
                'a`b': x
            condition: sel
            """
        )


def test_dotless_i_is_not_folded_into_i(convert):
    """ı's upper case is I; the group is case-sensitive so (?i) does not turn that I into i as well."""
    from evaluators import logs_insights as li

    (out,) = convert(
        """
        sel:
            requestParameters.userName: ı
        condition: sel
        """
    )
    assert out == query("requestParameters.userName like /(?i)\\A(?-i:I|ı)\\z/")
    record = {"eventTime": "2026-11-23T10:00:00Z", "requestParameters": {"userName": "i"}}
    assert not li.matches(out, record)
    assert li.matches(out, record | {"requestParameters": {"userName": "I"}})
