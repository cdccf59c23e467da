"""EventBridge artifacts against their real validators: cfn-lint for the template, botocore's `events` model for
the PutRule and PutTargets requests the template and the Terraform module make, moto for the patterns and the
input transformer, `terraform fmt -check` and `terraform validate` for the module (skipped where terraform or the
offline provider mirror is absent)."""

from __future__ import annotations

import json
import re
import shutil

import hcl2
import pytest
import yaml
from cloudwatch.test_alarm_bounds import MAJORS, init, needs_mirror, needs_terraform, terraform
from cloudwatch.test_artifacts import cfn_lint, input_shape, model_problems
from fixture_corpus import FIXTURE_FILES
from moto.events.utils import EventTemplateParser
from sigma.backends.cloudwatch.limits import TEMPLATE_DESCRIPTION_MAX_LENGTH

from cloudtrail_pack.artifacts import eventbridge as eb
from release_helpers import release_for

from .conftest import wrap


@pytest.fixture(scope="module")
def release(pack):
    return release_for(pack, eb)


@pytest.fixture(scope="module")
def collected(release):
    return eb.collect(release)


@pytest.fixture(scope="module")
def out(tmp_path_factory, release):
    folder = tmp_path_factory.mktemp("eventbridge")
    eb.write(release, folder)
    return folder


@pytest.fixture(scope="module")
def doc(out) -> dict:
    return yaml.safe_load((out / eb.TEMPLATE_FILE).read_text(encoding="utf-8"))


def rules_of(doc: dict) -> dict:
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == "AWS::Events::Rule"}


def test_files_written(out, collected):
    detections, _ = collected
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [eb.TEMPLATE_FILE]
        + [f"patterns/{d.rule.slug}.json" for d in detections]
        + [f"terraform/{n}" for n in ("detections.json", "main.tf", "outputs.tf", "variables.tf", "versions.tf")]
    )


def test_writing_twice_is_byte_identical(release, tmp_path, out, tree_bytes):
    eb.write(release, tmp_path)
    assert tree_bytes(tmp_path) == tree_bytes(out)


def test_template_passes_cfn_lint(out):
    assert [str(m) for m in cfn_lint((out / eb.TEMPLATE_FILE).read_text(encoding="utf-8"))] == []


def test_cfn_lint_is_really_checking(doc):
    broken = json.loads(json.dumps(doc))
    rule = next(iter(rules_of(broken).values()))
    rule["Properties"]["State"] = "ON"
    rule["Properties"]["Statee"] = "ENABLED"
    assert any(m.rule.id.startswith("E") for m in cfn_lint(json.dumps(broken)))


def test_one_rule_per_shipped_pattern_with_the_pattern_file_text(doc, out, collected):
    detections, refused = collected
    rules = rules_of(doc)
    assert sorted(rules) == sorted(f"{d.name}Rule" for d in detections)
    for d in detections:
        props = rules[f"{d.name}Rule"]["Properties"]
        text = (out / "patterns" / f"{d.rule.slug}.json").read_text(encoding="utf-8")
        assert props["EventPattern"] + "\n" == text
        assert props["EventBusName"] == "default"
    assert [n["Id"] for n in doc["Metadata"]["CloudTrailDetectionPack"]["NotDeployed"]] == [r.id for r, _ in refused]


def test_rule_versions_come_from_the_lock(doc, collected, release):
    detections, _ = collected
    rules = rules_of(doc)
    for d in detections:
        version = release.rule_versions[d.rule.id]
        assert f"| rule version {version} |" in rules[f"{d.name}Rule"]["Properties"]["Description"]
        assert f"rule version {version})" in rules[f"{d.name}Rule"]["Properties"]["Targets"][0]["InputTransformer"]["InputTemplate"]


def test_requests_are_valid_for_the_events_api(doc):
    """Every AWS::Events::Rule as the PutRule and PutTargets requests CloudFormation makes, checked against
    botocore's `events` model (lengths, patterns, enums)."""
    put_rule, put_targets = input_shape("events", "PutRule"), input_shape("events", "PutTargets")
    for name, rule in rules_of(doc).items():
        props = rule["Properties"]
        request = {k: props[k] for k in ("Description", "EventPattern", "State", "EventBusName")}
        assert model_problems({"Name": name[:64], **request}, put_rule) == []
        alert = props["Targets"][0]
        assert model_problems({"Rule": name[:64], "Targets": [{**alert, "Arn": "arn:aws:sns:us-east-1:111122223333:t"}]}, put_targets) == []


def test_template_description_fits_and_says_where_to_deploy(doc):
    description = doc["Description"]
    assert len(description.encode("utf-8")) <= TEMPLATE_DESCRIPTION_MAX_LENGTH
    for words in ("every account", "StackSet", "us-east-1", "GlobalServiceRegion", "trail"):
        assert words in description


def test_rules_on_global_service_events_are_created_only_in_the_global_service_region(doc, collected):
    detections, _ = collected
    rules = rules_of(doc)
    assert doc["Conditions"]["InGlobalServiceRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "GlobalServiceRegion"}]}
    for d in detections:
        global_only = d.pattern.event_sources is not None and d.pattern.event_sources <= {"iam.amazonaws.com", "organizations.amazonaws.com"}
        assert (rules[f"{d.name}Rule"].get("Condition") == "InGlobalServiceRegion") == global_only
    identity_center = next(d for d in detections if d.rule.slug == "aws_identitycenter_user_deleted_or_disabled")
    assert "Condition" not in rules[f"{identity_center.name}Rule"]


def test_topic_policy_lets_eventbridge_publish_for_this_account_only(doc):
    (statement,) = doc["Resources"]["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sns:Publish" and statement["Resource"] == {"Ref": "AlertTopic"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_forwarding_to_a_central_bus_is_optional(doc):
    assert doc["Parameters"]["CentralEventBusArn"]["Default"] == ""
    assert doc["Resources"]["ForwardingRole"]["Condition"] == "ForwardToCentralBus"
    for rule in rules_of(doc).values():
        (forward,) = [t for t in rule["Properties"]["Targets"] if "Fn::If" in t]
        condition, target, otherwise = forward["Fn::If"]
        assert condition == "ForwardToCentralBus" and otherwise == {"Ref": "AWS::NoValue"}
        assert target["Arn"] == {"Ref": "CentralEventBusArn"} and "InputTransformer" not in target  # the whole event
    pattern = re.compile(doc["Parameters"]["CentralEventBusArn"]["AllowedPattern"])
    assert pattern.fullmatch("arn:aws:events:us-east-1:210987654321:event-bus/security-alerts")
    assert pattern.fullmatch("") and not pattern.fullmatch("arn:aws:sns:us-east-1:210987654321:topic")


def test_every_placeholder_has_a_path(doc):
    for rule in rules_of(doc).values():
        transformer = rule["Properties"]["Targets"][0]["InputTransformer"]
        paths = transformer["InputPathsMap"]
        assert all(re.fullmatch("[a-zA-Z0-9]+", k) for k in paths)
        assert set(re.findall(r"<([^<>]+)>", transformer["InputTemplate"])) <= set(paths)
        assert isinstance(json.loads(transformer["InputTemplate"]), str)


def test_alert_reads_who_from_where_on_whom_outcome_account_region_time_and_link(collected):
    """moto's input transformer (moto.events.utils.EventTemplateParser) on a fixture event: LeaveOrganization by a
    member's root user, denied by an SCP."""
    detections, _ = collected
    leave = next(d for d in detections if d.rule.slug == "aws_organizations_leave_organization")
    record = next(r for f in FIXTURE_FILES for r in f.records if r["eventID"] == "824fc332-48ce-4d35-840a-9f5a4c063ea0")
    transformer = leave.input_transformer()
    event = dict(wrap(record), **{"ingestion-time": "2026-11-23T10:00:00Z"})
    alert = EventTemplateParser.parse(transformer["InputTemplate"], transformer["InputPathsMap"], event)
    lines = alert.split("\n")
    assert lines[0] == f"AWS Account Left the Organization (high, rule version {leave.version})"
    assert lines[1] == f"Who: {record['userIdentity']['arn']} ({record['userIdentity']['type']})"
    assert lines[2] == f"From: {record['sourceIPAddress']}, {record['userAgent']}"
    assert lines[3] == f"On: recipientAccountId {record['recipientAccountId']}"
    assert lines[4] == f"Outcome (errorCode, errorMessage; none: the call succeeded): {record['errorCode']} {record['errorMessage']}"
    assert lines[5] == f"Account: {event['account']}, Region: {event['region']}"
    assert lines[6] == f"Event: organizations.amazonaws.com LeaveOrganization at {record['eventTime']}, id {record['eventID']}"
    region = record["awsRegion"]
    assert lines[7] == f"Console: https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{record['eventID']}"


def test_terraform_data_matches_the_template(out, doc, collected):
    data = json.loads((out / "terraform" / "detections.json").read_text(encoding="utf-8"))
    rules = rules_of(doc)
    detections, _ = collected
    assert sorted(data) == sorted(d.name for d in detections)
    for d in detections:
        props = rules[f"{d.name}Rule"]["Properties"]
        entry = data[d.name]
        assert entry["event_pattern"] == props["EventPattern"] and entry["state"] == props["State"]
        assert entry["description"] == props["Description"]
        assert entry["input_template"] == props["Targets"][0]["InputTransformer"]["InputTemplate"]
        assert entry["global_service_only"] == (rules[f"{d.name}Rule"].get("Condition") == "InGlobalServiceRegion")
        assert len(f"{eb.NAME_PREFIX}-{d.name}") <= 64


def test_terraform_files_parse_as_hcl2(out):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        hcl2.loads((out / "terraform" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory, out):
    module = tmp_path_factory.mktemp("tf") / "module" / "terraform"
    shutil.copytree(out / "terraform", module)
    return module


@needs_terraform
def test_terraform_fmt(module_dir):
    result = terraform(["fmt", "-check", "-diff"], module_dir)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
@needs_mirror
@pytest.mark.parametrize("major", MAJORS or [5], ids=lambda m: f"aws{m}")
def test_terraform_validate(module_dir, major):
    """Against each hashicorp/aws major the offline mirror holds (the modules accept 5.x and 6.x)."""
    init(module_dir, major)
    result = terraform(["validate"], module_dir)
    assert result.returncode == 0, result.stdout + result.stderr
