"""Metric filter patterns: what the JSON filter pattern language can express, checked by the filter pattern
evaluator, and clear refusals for the rest."""

from __future__ import annotations

import pytest
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

import rule_facts as facts
from evaluators import metric_filter as mf
from fixture_corpus import FIXTURE_FILES


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


#: What a refusal says for each construct a rule needs (rule_facts.constructs).
REFUSAL_WORDS = {
    facts.REGEX: "regular expressions",
    facts.FIELDREF: "field references",
    facts.FOLDED: "case-insensitively",
    facts.CORRELATION: "correlation rules",
}


def metric_filter_outcomes(pack) -> dict[str, str | None]:
    """{rule id: its one pattern, or None} and {rule id: the refusal's reason}, as the release compiles them."""
    from cloudtrail_pack.compilation import compile_pack
    from cloudtrail_pack.registry import TARGETS

    compiled = compile_pack(pack, [(TARGETS["cloudwatch"], "metric_filter")])
    patterns, refusals = {}, {}
    for rule in pack.rules:
        queries = compiled.queries(rule, "cloudwatch", "metric_filter")
        if queries is None:
            refusals[rule.id] = compiled.result(rule, "cloudwatch", "metric_filter").reason
        else:
            (patterns[rule.id],) = queries
    return patterns, refusals


def test_every_pack_rule_has_a_pattern_unless_it_needs_what_patterns_lack(pack):
    """A base rule gets a pattern unless it needs a regular expression, a field reference or letters compared
    case-insensitively outside eventSource/eventName (filter patterns are case-sensitive); a correlation never
    does. Each refusal names a construct the rule needs (a correlation may name its counted rule's)."""
    patterns, refusals = metric_filter_outcomes(pack)
    problems = []
    for rule in pack.rules:
        needs = facts.constructs(pack, rule)
        if rule.id in patterns:
            if needs:
                problems.append(f"{rule.path}: a pattern was written, but the rule needs {sorted(needs)}: {patterns[rule.id]}")
            continue
        said = refusals[rule.id]
        if not needs:
            problems.append(f"{rule.path}: refused although it needs nothing patterns lack: {said}")
        elif not said.startswith(("metric filter pattern: ", "a rule it counts is not available")) or not any(
            REFUSAL_WORDS[n] in said for n in needs
        ):
            problems.append(f"{rule.path}: the refusal names none of {sorted(needs)}: {said}")
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not FIXTURE_FILES, reason="no fixtures/manifest.yml yet")
def test_every_pattern_matches_exactly_what_the_reference_matches_on_every_fixture(pack, reference):
    """The shipped patterns, run by the filter-pattern evaluator on every fixture record (as CloudTrail writes
    it to CloudWatch Logs), against the reference engine's verdict for the same rule."""
    patterns, _ = metric_filter_outcomes(pack)
    assert patterns, "no rule of the pack compiles to a metric filter pattern"
    parsed = {rule_id: mf.parse(text) for rule_id, text in patterns.items()}
    mismatches = []
    for fixture in FIXTURE_FILES:
        verdict = reference.run(fixture.records)
        for record in fixture.records:
            event_id = str(record["eventID"])
            for rule_id, node in parsed.items():
                expected = rule_id in verdict.matches[event_id]
                if node.matches(record) != expected:
                    mismatches.append(f"{fixture.path} {event_id}: {pack.by_id(rule_id).path} pattern "
                                      f"{'misses' if expected else 'matches'} it: {patterns[rule_id]}")
    assert not mismatches, "\n".join(mismatches)


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
