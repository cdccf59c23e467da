"""Correlations over several rules in the `splunk_cloudtrail` pipeline: a `| multisearch` of the rules'
searches, then a sliding window (value_count: distinct values; temporal_ordered: an event of the first step
before an event of the second). One behaviour per test, the expected search spelled out; the last tests run
the searches with the SPL evaluator."""

from __future__ import annotations

import pytest
from evaluators.spl import SplunkEvaluator
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail.splunk import (
    SCOPE_DEFINITION,
    SCOPE_MACRO,
    scoped,
    splunk_cloudtrail_pipeline,
)

SCOPE = f"`{SCOPE_MACRO}`"


def base(name: str, uid: str, event_name: str, extra: str = "") -> str:
    return (
        f"title: {name}\nid: {uid}\nname: {name}\nstatus: test\n"
        "logsource:\n    product: aws\n    service: cloudtrail\n"
        f"detection:\n    selection:\n        eventSource: iam.amazonaws.com\n        eventName: {event_name}\n{extra}"
        "    condition: selection\nlevel: medium\n---\n"
    )


RULES = (
    base("key_removed", "11111111-0000-4000-8000-000000000001", "DeleteAccessKey")
    + base("password_removed", "11111111-0000-4000-8000-000000000002", "DeleteLoginProfile")
    + base("user_deleted", "11111111-0000-4000-8000-000000000003", "DeleteUser")
)


def correlation(body: str, rules: str = RULES) -> str:
    return (
        rules
        + "title: Sequence\nid: 11111111-0000-4000-8000-0000000000ff\nname: sequence\nstatus: test\ncorrelation:\n"
        + body
        + "level: high\n"
    )


def convert(text: str) -> str:
    backend = SplunkBackend(processing_pipeline=splunk_cloudtrail_pipeline())
    return backend.convert(SigmaCollection.from_yaml(text))[-1]


VALUE_COUNT = (
    "    type: value_count\n    rules:\n        - key_removed\n        - password_removed\n"
    "    group-by:\n        - userIdentity.arn\n    timespan: 10m\n"
    "    condition:\n        gte: 3\n        field: requestParameters.userName\n"
)
ORDERED = (
    "    type: temporal_ordered\n    rules:\n        - key_removed\n        - password_removed\n        - user_deleted\n"
    "    group-by:\n        - userIdentity.arn\n        - requestParameters.userName\n    timespan: 10m\n"
    "    condition: (key_removed or password_removed) and user_deleted\n"
)


def test_value_count_over_several_rules_is_a_multisearch():
    assert convert(correlation(VALUE_COUNT)) == (
        "| multisearch\n"
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteAccessKey")]\n'
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteLoginProfile")]\n'
        "| sort 0 _time\n"
        "| eval sigma_value=lower('requestParameters.userName'), sigma_group1=lower('userIdentity.arn')\n"
        "| streamstats time_window=10m dc(sigma_value) as value_count by sigma_group1\n"
        "| where value_count >= 3\n"
        "| `cloudtrail_detection_pack_sequence_filter`"
    )


def test_a_rules_own_filter_commands_stay_in_its_subsearch():
    rules = RULES.replace(
        "eventName: DeleteLoginProfile\n", "eventName: DeleteLoginProfile\n        userIdentity.arn|re: 'user/[a-z]+$'\n"
    )
    search = convert(correlation(VALUE_COUNT, rules))
    assert (
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteLoginProfile") '
        '| regex userIdentity.arn="user/[a-z]+$"]\n'
    ) in search


def test_event_count_over_several_rules_is_refused():
    body = VALUE_COUNT.replace("value_count", "event_count").replace("        field: requestParameters.userName\n", "")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="counted once per rule"):
        convert(correlation(body))


def test_ordered_temporal_keeps_the_earliest_first_step_per_group():
    assert convert(correlation(ORDERED)) == (
        "| multisearch\n"
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteAccessKey") '
        "| eval sigma_step=1, sigma_step1_time=_time]\n"
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteLoginProfile") '
        "| eval sigma_step=1, sigma_step1_time=_time]\n"
        f'    [search {SCOPE} (eventSource="iam.amazonaws.com" AND eventName="DeleteUser") | eval sigma_step=2]\n'
        "| sort 0 _time, sigma_step\n"
        "| eval sigma_group1=lower('userIdentity.arn'), sigma_group2=lower('requestParameters.userName')\n"
        "| streamstats time_window=10m min(sigma_step1_time) as sigma_step1_first by sigma_group1 sigma_group2\n"
        "| where sigma_step==2 AND sigma_step1_first <= _time\n"
        "| `cloudtrail_detection_pack_sequence_filter`"
    )


def test_ordered_temporal_of_two_rules_without_extended_condition():
    body = (
        "    type: temporal_ordered\n    rules:\n        - key_removed\n        - user_deleted\n"
        "    group-by:\n        - userIdentity.arn\n    timespan: 5m\n"
    )
    search = convert(correlation(body))
    assert "AND eventName=\"DeleteAccessKey\") | eval sigma_step=1, sigma_step1_time=_time]\n" in search
    assert "AND eventName=\"DeleteUser\") | eval sigma_step=2]\n" in search
    assert "| streamstats time_window=5m min(sigma_step1_time) as sigma_step1_first by sigma_group1\n" in search


@pytest.mark.parametrize(
    "condition",
    [
        "key_removed and password_removed and user_deleted",  # three steps
        "(key_removed or password_removed) and not user_deleted",  # a negation
        "user_deleted and (key_removed or password_removed)",  # steps out of the rules' order
        "key_removed or password_removed or user_deleted",  # no order at all
    ],
)
def test_other_ordered_temporal_conditions_are_refused(condition):
    body = ORDERED.replace("(key_removed or password_removed) and user_deleted", condition)
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="two steps"):
        convert(correlation(body))


def test_unordered_temporal_is_refused_with_the_supported_types():
    body = ORDERED.replace("temporal_ordered", "temporal")
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="temporal is not supported"):
        convert(correlation(body))


def test_the_stand_in_leaves_the_rule_as_written():
    collection = SigmaCollection.from_yaml(correlation(ORDERED))
    SplunkBackend(processing_pipeline=splunk_cloudtrail_pipeline()).convert(collection)
    sequence = collection.rules[-1]
    assert sequence.type.name == "TEMPORAL_ORDERED"
    assert sequence.condition.expression == "(key_removed or password_removed) and user_deleted"


def test_multisearch_searches_are_scoped():
    assert scoped(convert(correlation(ORDERED)))
    assert not scoped("| multisearch\n    [search index=main a=1]\n    [search index=main b=2]")


# --- what the searches find (SPL evaluator) ---------------------------------------------------------------


def event(event_id: str, minute: str, name: str, user: str, arn: str = "arn:aws:iam::111122223333:user/admin") -> dict:
    return {
        "eventVersion": "1.10", "eventID": event_id, "eventTime": f"2026-02-17T11:{minute}Z",
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": arn}, "requestParameters": {"userName": user},
    }


def run(search: str, records: list[dict]) -> list[str]:
    evaluator = SplunkEvaluator({SCOPE_MACRO: SCOPE_DEFINITION, "cloudtrail_detection_pack_sequence_filter": "search *"})
    return sorted(str(records[i]["eventID"]) for row in evaluator.run(search, records) for i in row.sources)


def test_ordered_search_reports_the_deletion_after_a_credential_removal():
    records = [event("key", "00:31", "DeleteAccessKey", "nora"), event("del", "01:05", "DeleteUser", "Nora")]
    assert run(convert(correlation(ORDERED)), records) == ["del"]


def test_ordered_search_ignores_the_reversed_order():
    records = [event("del-1", "10:00", "DeleteUser", "oscar"), event("key-1", "10:30", "DeleteAccessKey", "oscar")]
    assert run(convert(correlation(ORDERED)), records) == []


@pytest.mark.parametrize("order", ["removal first", "deletion first"])
def test_ordered_search_reports_both_steps_in_the_same_second(order):
    """eventTime has whole seconds: a script removes the password and deletes the user within one (issue 20). The
    records come in either order; the evaluator's multisearch returns its subsearches in turn, Splunk's documents no
    order, hence the search's `sort 0 _time, sigma_step` (step 1 first within a second, asserted above)."""
    records = [event("pwd", "20:00", "DeleteLoginProfile", "rosa"), event("del", "20:00", "DeleteUser", "rosa")]
    if order == "deletion first":
        records.reverse()
    assert run(convert(correlation(ORDERED)), records) == ["del"]


def test_ordered_search_ignores_another_principal_and_a_step_outside_the_window():
    records = [
        event("key-1", "30:00", "DeleteAccessKey", "pia", arn="arn:aws:iam::111122223333:user/other"),
        event("del-1", "31:00", "DeleteUser", "pia"),
        event("key-2", "40:00", "DeleteAccessKey", "quinn"), event("del-2", "50:01", "DeleteUser", "quinn"),
    ]
    assert run(convert(correlation(ORDERED)), records) == []


def test_value_count_counts_a_user_spelled_twice_once():
    records = [
        event("a", "00:00", "DeleteAccessKey", "bob"), event("b", "01:00", "DeleteLoginProfile", "BOB"),
        event("c", "02:00", "DeleteAccessKey", "carol"),
    ]
    assert run(convert(correlation(VALUE_COUNT)), records) == []
    records.append(event("d", "03:00", "DeleteLoginProfile", "dan"))
    assert run(convert(correlation(VALUE_COUNT)), records) == ["d"]
