"""The Kibana import file: every rule object valid against the detection-engine schema, complete,
deterministic, and the one rule spelled out in full."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from release_helpers import release_for

from cloudtrail_pack.artifacts import elastic
from cloudtrail_pack.artifacts.elastic import (
    LANGUAGES,
    NDJSON_NAME,
    read_kibana_rules,
    rule_uuid,
    write_kibana_rules,
)
from cloudtrail_pack.project import Project

PROJECT_VERSION = Project.find(Path(__file__)).version
DELETE_USER = "0b40a563-9611-430c-ac03-6536096733f9"
MASS_DELETION = "d7e97f60-0265-437d-82c5-a8489994eda7"
ACCESS_KEY = "4b9e1931-380b-48fe-beb5-ee3c4a2edb4d"
LOGIN_PROFILE = "e06330c4-45af-4855-85de-4fcc3fa4bd6f"
MFA = "547ae2af-3af7-419c-96c5-6b20daf00fef"


def by_sigma(rules, sigma_id, language):
    return next(r for r in rules if r["meta"]["sigma_id"] == sigma_id and f"Language: {dict(lucene='Lucene', eql='EQL', esql='ES|QL')[language]}" in r["tags"])


def test_every_shipped_rule_validates_against_the_detection_engine_schema(shipped_rules, rule_schema):
    validator = jsonschema.Draft202012Validator(rule_schema, format_checker=jsonschema.FormatChecker())
    errors = {r["name"]: [e.message for e in validator.iter_errors(r)] for r in shipped_rules}
    assert {k: v for k, v in errors.items() if v} == {}


@pytest.mark.parametrize(
    "change",
    [
        {"severity": "urgent"},
        {"risk_score": 101},
        {"type": "threshold"},  # no threshold object
        {"unknown_key": 1},
        {"threat": [{"framework": "MITRE ATT&CK", "tactic": {"id": "impact", "name": "Impact", "reference": "x"}}]},
    ],
)
def test_schema_rejects_what_the_api_rejects(shipped_rules, rule_schema, change):
    rule = {**shipped_rules[0], **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, rule_schema)


def test_esql_rules_carry_no_index(shipped_rules, rule_schema):
    esql_rule = next(r for r in shipped_rules if r["type"] == "esql")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**esql_rule, "index": ["logs-*"]}, rule_schema)


def test_every_rule_of_the_pack_ships_in_every_language_or_has_a_reason(pack, shipped_rules, skipped_report):
    shipped = {(r["meta"]["sigma_id"], r["rule_id"]) for r in shipped_rules}
    skipped = {(s["sigma_id"], s["rule_id"]) for s in skipped_report}
    expected = {(r.id, rule_uuid(r.id, lang)) for r in pack.rules for lang in LANGUAGES}
    assert shipped | skipped == expected and not shipped & skipped


def test_skipped_rules_and_languages_say_why(skipped_report):
    """The refusals of the first rules of the pack, in the build table's words (rules added later have their
    own tests)."""
    fieldref = "userIdentity.userName: Lucene query syntax compares a field with constants only, not with another field"
    assert [s for s in skipped_report if s["sigma_id"] in (ACCESS_KEY, LOGIN_PROFILE, MFA, MASS_DELETION)] == [
        {
            "language": "lucene",
            "reason": f"ecs_cloudtrail: requestParameters.userName|fieldref: {fieldref}",
            "rule_id": rule_uuid(ACCESS_KEY, "lucene"),
            "sigma_id": ACCESS_KEY,
        },
        {
            "language": "lucene",
            "reason": f"ecs_cloudtrail: requestParameters.userName|fieldref: {fieldref}",
            "rule_id": rule_uuid(LOGIN_PROFILE, "lucene"),
            "sigma_id": LOGIN_PROFILE,
        },
        {
            "language": "lucene",
            "reason": f"ecs_cloudtrail: requestParameters.userName|fieldref: {fieldref}",
            "rule_id": rule_uuid(MFA, "lucene"),
            "sigma_id": MFA,
        },
        {
            "language": "lucene",
            "reason": "Elastic Lucene queries cannot express correlations",  # the build table's words
            "rule_id": rule_uuid(MASS_DELETION, "lucene"),
            "sigma_id": MASS_DELETION,
        },
    ]


def test_rule_ids_are_uuid5_of_the_sigma_id_and_language(shipped_rules):
    for r in shipped_rules:
        language = r["language"]
        assert r["rule_id"] == str(uuid.uuid5(uuid.UUID(r["meta"]["sigma_id"]), language))
    assert len({r["rule_id"] for r in shipped_rules}) == len(shipped_rules)


def test_output_is_byte_for_byte_reproducible(pack, ndjson_path, tmp_path):
    again = write_kibana_rules(release_for(pack, elastic), tmp_path)
    assert again.name == NDJSON_NAME and again.read_bytes() == ndjson_path.read_bytes()


def test_lines_are_json_with_sorted_keys(ndjson_path):
    for line in ndjson_path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        assert line == json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_rule_version_is_the_locked_version(pack, shipped_rules):
    from cloudtrail_pack.lock import locked_versions

    versions = locked_versions(pack)
    assert all(r["version"] == versions[r["meta"]["sigma_id"]] for r in shipped_rules)


def test_pack_version_is_the_projects(shipped_rules, pack):
    """The version being released: pyproject.toml's, even before the project is reinstalled."""
    version = pack.project.version
    assert all(r["meta"]["pack_version"] == version and f"Pack: cloudtrail-detection-pack {version}" in r["tags"] for r in shipped_rules)


def test_correlation_ships_as_an_eql_sequence(shipped_rules):
    sequence = by_sigma(shipped_rules, MASS_DELETION, "eql")
    assert (sequence["type"], sequence["query"]) == (
        "eql",
        "sequence by aws.cloudtrail.user_identity.arn with maxspan=10m \n"
        ' [any where event.provider:"iam.amazonaws.com" and event.action:"DeleteUser"]  with runs=3',
    )


def test_correlation_ships_as_esql_stats_bounded_by_the_events_own_time_span(shipped_rules):
    stats = by_sigma(shipped_rules, MASS_DELETION, "esql")
    assert stats["query"].startswith(
        'from logs-aws.cloudtrail-* metadata _id, _index, _version | where event.provider=="iam.amazonaws.com" and '
        'event.action=="DeleteUser"\n| stats event_count=count(), first_seen=min(`@timestamp`), last_seen=max(`@timestamp`), '
    )
    assert stats["query"].endswith(
        ' by aws.cloudtrail.user_identity.arn\n| where event_count >= 3 and date_diff("second", first_seen, last_seen) <= 600'
    )


def test_correlation_is_not_shipped_as_a_threshold_rule(shipped_rules):
    assert [r["type"] for r in shipped_rules if r["meta"]["sigma_id"] == MASS_DELETION] == ["eql", "esql"]


def test_threat_mapping_comes_from_the_tags(shipped_rules):
    leave = next(r for r in shipped_rules if r["meta"]["sigma_id"] == "bb3c7f15-92b2-4692-b858-39e6562b8704")
    assert leave["threat"] == [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0005", "name": "Defense Evasion", "reference": "https://attack.mitre.org/tactics/TA0005/"},
            "technique": [
                {
                    "id": "T1666",
                    "name": "Modify Cloud Resource Hierarchy",
                    "reference": "https://attack.mitre.org/techniques/T1666/",
                    "subtechnique": [],
                }
            ],
        }
    ]


def test_severity_and_risk_score_follow_the_level(shipped_rules):
    pairs = {(r["severity"], r["risk_score"]) for r in shipped_rules}
    assert pairs == {("low", 1), ("low", 21), ("medium", 47), ("high", 73)}  # informational: the bottom of low


def test_a_failed_call_is_one_severity_band_below_the_level(shipped_rules):
    """Kibana's severity override reads event.outcome, which the integration sets to failure for an errorCode."""
    for language in ("eql", "esql"):
        rule = by_sigma(shipped_rules, MFA, language)
        assert (rule["severity"], rule["severity_mapping"]) == (
            "medium",
            [{"field": "event.outcome", "operator": "equals", "value": "failure", "severity": "low"}],
        )


def test_a_low_rule_has_no_lower_band_to_map_failures_to():
    from cloudtrail_pack.artifacts.elastic import failure_severity

    assert [failure_severity(level) for level in ("informational", "low", "medium", "high", "critical")] == [
        "low", "low", "low", "medium", "high"
    ]


def test_correlations_map_no_severity(shipped_rules):
    assert [r["severity_mapping"] for r in shipped_rules if r["meta"]["sigma_id"] == MASS_DELETION] == [[], []]


def test_guide_says_which_severity_a_failed_call_gets(shipped_rules):
    assert (
        "A successful call raises a medium alert, a denied or failed one (`event.outcome: failure`, "
        "`aws.cloudtrail.error_code` set) a low one" in by_sigma(shipped_rules, MFA, "eql")["note"]
    )


def test_one_rule_object_spelled_out(shipped_rules):
    rule = by_sigma(shipped_rules, DELETE_USER, "lucene")
    assert rule == {
        "actions": [],
        "author": ["CloudTrail Detection Pack"],
        "description": (
            "Detects an attempt to delete an IAM user, successful or not (check errorCode). Deleting a legitimate user "
            "removes its owner's access to the account (T1531 Account Access Removal), which disrupts response and "
            "recovery and hides who was using the identity; a denied attempt is reconnaissance of what the caller may "
            "delete. Only IAM's DeleteUser matches: ElastiCache, MemoryDB, QuickSight, Transfer Family and IAM Identity "
            "Center have DeleteUser calls of their own. Access removal or indicator removal: find the user's CreateUser "
            "event (same requestParameters.userName) and its age. A user that existed long before and was created by "
            "someone else is a person's or a workload's access taken away (T1531). A user created recently by the same "
            "principal that now deletes it is the actor removing its own backdoor (T1070 Indicator Removal): the AWS IAM "
            "User Created Then Deleted by the Same Principal correlation alerts on that within 24 hours; for an older "
            "user, search CloudTrail (Athena, CloudTrail Lake: the hunting query of AWS IAM User Created) for its creation."
        ),
        "enabled": False,
        "exceptions_list": [],
        "false_positives": [
            "Offboarding by identity administrators or an identity-lifecycle automation (SCIM, Terraform, CloudFormation "
            "stack deletion); baseline the principals that normally delete users.",
            "The AWS Systems Manager runbook AWSConfigRemediation-DeleteIAMUser, which deletes unused users.",
            "A principal deleting a user it created itself (test users, a typo fixed at once) is not access removal; when "
            "the creator is not a known administrator or pipeline, treat it as indicator removal (T1070) and scope what "
            "the user did while it existed.",
        ],
        "from": "now-6m",
        "index": ["logs-aws.cloudtrail-*"],
        "investigation_fields": {
            "field_names": [
                "@timestamp",
                "aws.cloudtrail.user_identity.type",
                "aws.cloudtrail.user_identity.arn",
                "source.address",
                "user_agent.original",
                "user.target.name",
                "aws.cloudtrail.error_code",
                "aws.cloudtrail.error_message",
                "aws.cloudtrail.recipient_account_id",
            ]
        },
        "interval": "5m",
        "language": "lucene",
        "license": "MIT",
        "max_signals": 100,
        "meta": {"pack_version": PROJECT_VERSION, "sigma_id": DELETE_USER, "sigma_path": "sigma/iam/aws_iam_user_deleted.yml"},
        "name": "AWS IAM User Deleted (Lucene)",
        "note": rule["note"],
        "query": "event.provider:iam.amazonaws.com AND event.action:DeleteUser",
        "references": [
            "https://attack.mitre.org/techniques/T1531/",
            "https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/T1531.html",
            "https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUser.html",
        ],
        "related_integrations": [{"integration": "cloudtrail", "package": "aws", "version": ">=2.0.0"}],
        "required_fields": [
            {"ecs": True, "name": "event.action", "type": "keyword"},
            {"ecs": True, "name": "event.provider", "type": "keyword"},
        ],
        "risk_score": 47,
        "risk_score_mapping": [],
        "rule_id": str(uuid.uuid5(uuid.UUID(DELETE_USER), "lucene")),
        "setup": rule["setup"],
        "severity": "medium",
        "severity_mapping": [{"field": "event.outcome", "operator": "equals", "severity": "low", "value": "failure"}],
        "tags": [
            "Domain: Cloud",
            "Data Source: AWS",
            "Data Source: Amazon Web Services",
            "Data Source: AWS CloudTrail",
            "Use Case: Threat Detection",
            "Tactic: Impact",
            "Resources: Investigation Guide",
            "Language: Lucene",
            "Sigma",
            f"Sigma: {DELETE_USER}",
            f"Pack: cloudtrail-detection-pack {PROJECT_VERSION}",
            "attack.impact",
            "attack.t1531",
        ],
        "threat": [
            {
                "framework": "MITRE ATT&CK",
                "tactic": {"id": "TA0040", "name": "Impact", "reference": "https://attack.mitre.org/tactics/TA0040/"},
                "technique": [
                    {"id": "T1531", "name": "Account Access Removal", "reference": "https://attack.mitre.org/techniques/T1531/", "subtechnique": []}
                ],
            }
        ],
        "timestamp_override": "event.ingested",
        "timestamp_override_fallback_disabled": False,
        "to": "now",
        "type": "query",
        "version": 1,
    }
    assert rule["note"].startswith("## Triage and analysis\n\n### Investigating AWS IAM User Deleted\n\nDetects an attempt")
    assert "logs-aws.cloudtrail-default" in rule["setup"]
    assert "add filebeat-* to them" in rule["setup"] and "any `retain` setting" in rule["setup"]


def test_every_rule_has_investigation_fields_and_single_event_esql_rules_keep_theirs(shipped_rules):
    """issue 20: the alert flyout highlights the rule's fields; a single-event ES|QL rule keeps them (with the
    metadata Kibana deduplicates by); the setup says which `retain` settings store what the query reads."""
    for rule in shipped_rules:
        assert rule["investigation_fields"]["field_names"], rule["name"]
        assert "`retain`" in rule["setup"], rule["name"]
        single_esql = rule["type"] == "esql" and "| stats" not in rule["query"]
        if single_esql:
            keep = rule["query"].rsplit("\n", 1)[-1]
            assert keep.startswith("| keep _id, _index, _version, @timestamp, event.action, event.outcome"), rule["name"]
            assert all(f in keep for f in rule["investigation_fields"]["field_names"] if "flattened" not in f), rule["name"]


def test_reading_back_gives_the_written_rules(ndjson_path, shipped_rules):
    assert read_kibana_rules(ndjson_path) == shipped_rules



def test_a_rule_reading_the_service_event_rendering_says_so_in_its_setup_and_guide(shipped_rules):
    """The membership-record rules' EQL and ES|QL read aws.cloudtrail.service_event_details (not the request
    parameters' rendering): the setup names that rendering, and the guide explains it; the Lucene rule reads the
    flattened key, which the `keyword` retain setting drops."""
    by_kind = {r["type"]: r for r in shipped_rules if r["meta"]["sigma_id"] == "4debbdb1-ee1d-45aa-bb2b-f8e0468e4f99"}
    for kind in ("eql", "esql"):
        assert "aws.cloudtrail.service_event_details" in by_kind[kind]["query"]
        assert "it reads the keyword rendering aws.cloudtrail.service_event_details" in by_kind[kind]["setup"]
        assert "aws.cloudtrail.request_parameters" not in by_kind[kind]["setup"] + by_kind[kind]["note"]
        assert "Service event details this language cannot read" in by_kind[kind]["note"]
    assert "flattened.service_event_details.departedMethod" in by_kind["query"]["query"]
    assert "Keep the integration's `retain` option unset or `all`." in by_kind["query"]["setup"]
