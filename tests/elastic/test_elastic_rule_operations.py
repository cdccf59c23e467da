"""What a Kibana rule of the import file needs besides its query: a schedule on event.ingested that sees late
CloudTrail events, alert suppression on correlations, typed required_fields, configurable index patterns,
and an investigation guide."""

from __future__ import annotations

import jsonschema
import pytest

from release_helpers import release_for

from cloudtrail_pack.artifacts import elastic
from cloudtrail_pack.artifacts.elastic import _required_fields, read_kibana_rules, write_kibana_rules

DELETE_USER = "0b40a563-9611-430c-ac03-6536096733f9"
MASS_DELETION = "d7e97f60-0265-437d-82c5-a8489994eda7"
ACCESS_KEY = "4b9e1931-380b-48fe-beb5-ee3c4a2edb4d"


def by_sigma(rules, sigma_id, language):
    return next(r for r in rules if r["meta"]["sigma_id"] == sigma_id and r["language"] == language)


# ------------------------------------------------------------------------------------------ schedules
def test_every_rule_is_scheduled_on_event_ingested_with_fallback_to_timestamp(shipped_rules):
    assert {(r["timestamp_override"], r["timestamp_override_fallback_disabled"]) for r in shipped_rules} == {("event.ingested", False)}


#: The pack's correlations (mass deletion, distinct users, credentials removed then the user deleted).
CREATED_THEN_DELETED = "f7e9b87e-4091-423e-8a1d-97cd89ee466f"  # 24 hours (the role one is not in Elastic)
TEN_MINUTES = {MASS_DELETION, "14ed1c7d-5a51-49ed-ba36-d28c84ce1bdd", "08069984-506b-4822-86e1-dcdd59bfe5b1"}
CORRELATIONS = TEN_MINUTES | {CREATED_THEN_DELETED}


def test_single_event_rules_look_back_their_interval_plus_one_minute(shipped_rules):
    single = [r for r in shipped_rules if r["meta"]["sigma_id"] not in CORRELATIONS]
    assert {(r["interval"], r["from"]) for r in single} == {("5m", "now-6m")}


def test_correlations_look_back_timespan_plus_delivery_delay_plus_interval(shipped_rules):
    correlations = [r for r in shipped_rules if r["meta"]["sigma_id"] in TEN_MINUTES]
    assert len(correlations) == 5  # mass deletion in EQL and ES|QL, distinct users in ES|QL, the sequence in EQL and ES|QL
    assert {(r["interval"], r["from"]) for r in correlations} == {("5m", "now-30m")}
    day = [r for r in shipped_rules if r["meta"]["sigma_id"] == CREATED_THEN_DELETED]  # EQL and ES|QL
    assert len(day) == 2 and {(r["interval"], r["from"]) for r in day} == {("5m", "now-1460m")}  # 24 h + 15 min + 5 min


def test_correlations_suppress_further_alerts_of_the_same_principal(shipped_rules):
    correlations = [r for r in shipped_rules if r["meta"]["sigma_id"] == MASS_DELETION]
    assert [r["alert_suppression"] for r in correlations] == [
        {"duration": {"unit": "m", "value": 55}, "group_by": ["aws.cloudtrail.user_identity.arn"], "missing_fields_strategy": "suppress"}
    ] * 2


def test_single_event_rules_do_not_suppress_alerts(shipped_rules):
    assert [r["name"] for r in shipped_rules if "alert_suppression" in r and r["meta"]["sigma_id"] not in CORRELATIONS] == []


# ------------------------------------------------------------------------------------ required_fields
def test_required_fields_say_whether_ecs_defines_them(shipped_rules):
    sequence = by_sigma(shipped_rules, MASS_DELETION, "eql")
    assert sequence["required_fields"] == [
        {"ecs": False, "name": "aws.cloudtrail.user_identity.arn", "type": "keyword"},
        {"ecs": True, "name": "event.action", "type": "keyword"},
        {"ecs": True, "name": "event.provider", "type": "keyword"},
    ]


def test_required_fields_of_a_flattened_key_are_typed_flattened():
    assert _required_fields(["requestParameters.status"]) == [
        {"ecs": False, "name": "aws.cloudtrail.flattened.request_parameters.status", "type": "flattened"}
    ]


def test_schema_rejects_required_fields_without_ecs(shipped_rules, rule_schema):
    rule = {**shipped_rules[0], "required_fields": [{"name": "event.action", "type": "keyword"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, rule_schema)


def test_schema_rejects_a_misspelt_alert_suppression_key(shipped_rules, rule_schema):
    rule = by_sigma(shipped_rules, MASS_DELETION, "esql")
    rule = {**rule, "alert_suppression": {**rule["alert_suppression"], "missing_field_strategy": "suppress"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, rule_schema)


# ------------------------------------------------------------------------------------ index patterns
@pytest.fixture(scope="module")
def elastic_release(pack):
    return release_for(pack, elastic)


@pytest.fixture(scope="module")
def filebeat_rules(pack, tmp_path_factory):
    out = tmp_path_factory.mktemp("elastic-filebeat")
    return read_kibana_rules(write_kibana_rules(release_for(pack, elastic), out, index_patterns=["logs-aws.cloudtrail-*", "filebeat-*"]))


def test_index_patterns_set_the_index_of_query_and_eql_rules(filebeat_rules):
    assert {tuple(r["index"]) for r in filebeat_rules if r["type"] != "esql"} == {("logs-aws.cloudtrail-*", "filebeat-*")}


def test_index_patterns_set_the_from_of_esql_queries(filebeat_rules):
    assert {r["query"].split(" metadata ")[0] for r in filebeat_rules if r["type"] == "esql"} == {"from logs-aws.cloudtrail-*, filebeat-*"}


def test_default_index_pattern_is_the_integrations_data_stream(shipped_rules):
    assert {tuple(r.get("index", ())) for r in shipped_rules} == {("logs-aws.cloudtrail-*",), ()}


@pytest.mark.parametrize("pattern", ["logs-* | where true", "Logs-*", "a,b", "-logs", 'x" OR "y', "logs\nx"])
def test_an_index_pattern_that_could_break_out_is_refused(elastic_release, tmp_path, pattern):
    with pytest.raises(ValueError, match="not an Elasticsearch index pattern"):
        write_kibana_rules(elastic_release, tmp_path, index_patterns=[pattern])


# -------------------------------------------------------------------------------- investigation guide
GUIDE_SECTIONS = (
    "## Triage and analysis\n",
    "\n### Investigating ",
    "\n#### Possible investigation steps\n",
    "\n#### Pivots\n",
    "\n### False positive analysis\n",
    "\n### Response and remediation\n",
)


@pytest.mark.parametrize("section", GUIDE_SECTIONS)
def test_every_rule_has_an_investigation_guide_section(shipped_rules, section):
    assert [r["name"] for r in shipped_rules if section not in r["note"]] == []


def test_guide_sections_come_in_elastics_order(shipped_rules):
    assert all([r["note"].index(s) for s in GUIDE_SECTIONS] == sorted(r["note"].index(s) for s in GUIDE_SECTIONS) for r in shipped_rules)


def test_guide_names_the_fields_to_triage_with(shipped_rules):
    note = by_sigma(shipped_rules, DELETE_USER, "lucene")["note"]
    assert "- **Who acted**: `aws.cloudtrail.user_identity.type`, `aws.cloudtrail.user_identity.arn`.\n" in note
    assert "- **From where**: `source.address`, `user_agent.original`.\n" in note
    assert "- **On whom or what**: `user.target.name`.\n" in note
    assert "- **Outcome**: `aws.cloudtrail.error_code`, `aws.cloudtrail.error_message`.\n" in note


def test_guide_pivots_are_written_in_the_rules_language(shipped_rules):
    note = by_sigma(shipped_rules, DELETE_USER, "esql")["note"]
    assert (
        '- Other actions by the same principal: ES|QL: `from logs-aws.cloudtrail-* | where aws.cloudtrail.user_identity.arn == '
        '"<principal ARN>" | stats events = count(*) by event.action, aws.cloudtrail.error_code | sort events desc`; '
        'KQL (Timeline, Discover): `aws.cloudtrail.user_identity.arn : "<principal ARN>"`\n'
    ) in note


def test_guide_lists_the_sigma_rules_false_positives(shipped_rules):
    note = by_sigma(shipped_rules, DELETE_USER, "eql")["note"]
    assert "\n- The AWS Systems Manager runbook AWSConfigRemediation-DeleteIAMUser, which deletes unused users.\n" in note


def test_guide_has_the_response_steps_of_the_rules_technique(shipped_rules):
    leave = next(r for r in shipped_rules if r["meta"]["sigma_id"] == "bb3c7f15-92b2-4692-b858-39e6562b8704")
    assert "re-invite it (`InviteAccountToOrganization`)" in leave["note"]


def test_required_fields_name_user_name_where_a_rule_pins_it():
    """The credential rules read userIdentity.userName from user.name (pinned by userIdentity.type: IAMUser)."""
    assert _required_fields(["userIdentity.userName", "requestParameters.userName"]) == [
        {"ecs": True, "name": "user.name", "type": "keyword"},
        {"ecs": True, "name": "user.target.name", "type": "keyword"},
    ]
