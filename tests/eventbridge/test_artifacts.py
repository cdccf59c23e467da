"""EventBridge artifacts against their real validators: cfn-lint for the template (its Amazon States Language
schema included), botocore's `events` model for the PutRule and PutTargets requests the template and the Terraform
module make, the reference JSONata implementation for the alert text, `terraform fmt -check` and `terraform
validate` for the module (skipped where terraform or the offline provider mirror is absent). The state machines'
decisions are tested in test_state_machine.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import hcl2
import pytest
import yaml
from cloudwatch.test_alarm_bounds import MAJORS, init, needs_mirror, needs_terraform, terraform
from cloudwatch.test_artifacts import cfn_lint, input_shape, model_problems
from fixture_corpus import FIXTURE_FILES
from sigma.backends.cloudwatch.limits import TEMPLATE_DESCRIPTION_MAX_LENGTH

from cloudtrail_pack.artifacts import eventbridge as eb
from release_helpers import release_for

from .conftest import wrap
from .jsonata_runner import evaluate, needs_jsonata

ROOT = Path(__file__).resolve().parents[2]


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


def test_template_fits_the_s3_template_quota_and_the_docs_say_how_to_deploy_it(out):
    """CloudFormation reads a template of up to 1 MB from S3 (51,200 bytes inline): the docs deploy it from S3."""
    size = len((out / eb.TEMPLATE_FILE).read_bytes())
    assert 51_200 < size <= 1_000_000
    assert "--template-url" in (ROOT / "docs" / "eventbridge-deploy.md").read_text(encoding="utf-8")


def test_cfn_lint_checks_the_state_machine_definitions(doc):
    """cfn-lint validates the Amazon States Language (its schema knows JSONata's Condition and Arguments): a
    misspelt field in one state machine is found."""
    broken = json.loads(json.dumps(doc))
    machine = next(v for v in broken["Resources"].values() if v["Type"] == "AWS::StepFunctions::StateMachine")
    machine["Properties"]["Definition"]["States"]["MatchesTheRule"]["Choices"][0]["Conditon"] = "{% true %}"
    assert any(m.rule.id.startswith("E") for m in cfn_lint(json.dumps(broken)))


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


def machines_of(doc: dict) -> dict:
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == "AWS::StepFunctions::StateMachine"}


def test_rule_versions_come_from_the_lock(doc, collected, release):
    detections, _ = collected
    rules, machines = rules_of(doc), machines_of(doc)
    for d in detections:
        version = release.rule_versions[d.rule.id]
        assert f"| rule version {version} |" in rules[f"{d.name}Rule"]["Properties"]["Description"]
        message = machines[f"{d.name}StateMachine"]["Properties"]["Definition"]["States"]["Alert"]["Arguments"]["Message"]
        assert f"rule version {version})" in message


def test_every_base_rule_is_deployed(doc, collected, pack):
    """Every rule that is not a correlation has an EventBridge rule and a state machine (the credential rules, the
    inline deny-all rule and the access-role rule, which no pattern expresses, included); only correlations are left
    out, refused, and correlation steps, neither deployed nor refused (they alert only through their correlations)."""
    detections, refused = collected
    base = [r for r in pack.rules if r.rule.__class__.__name__ == "SigmaRule" and not r.step_only]
    assert sorted(d.rule.id for d in detections) == sorted(r.id for r in base)
    assert all(r.rule.__class__.__name__ == "SigmaCorrelationRule" for r, _ in refused)
    assert sorted(rules_of(doc)) == sorted(f"{d.name}Rule" for d in detections)
    assert sorted(machines_of(doc)) == sorted(f"{d.name}StateMachine" for d in detections)
    prefiltered = {d.rule.slug for d in detections if not d.exact}
    assert prefiltered == {
        "aws_iam_inline_deny_all_policy_put",
        "aws_iam_organization_access_role_removed",
        "aws_iam_user_access_key_removed",
        "aws_iam_user_login_profile_removed_or_changed",
        "aws_iam_user_mfa_deactivated",
        "aws_iam_user_other_credentials_removed",
    }


def test_the_build_table_shows_what_is_deployed(release, collected):
    """The build table's eventbridge column says ok exactly for the rules deployed (pattern and state machine), n/a
    only for the rest (correlations): it showed the exact pattern alone, n/a for four deployed rules."""
    detections, _ = collected
    deployed = {d.rule.id for d in detections}
    column = {rule_id: cells["eventbridge"] for rule_id, cells in release.matrix().items()}
    assert {rule_id for rule_id, cell in column.items() if cell.ok and not cell.step} == deployed
    assert all(cell.reason for rule_id, cell in column.items() if rule_id not in deployed)


def test_state_machines_are_express_jsonata_choice_then_sns_publish(doc, collected):
    for d in collected[0]:
        props = machines_of(doc)[f"{d.name}StateMachine"]["Properties"]
        assert props["StateMachineType"] == "EXPRESS"
        definition = props["Definition"]
        assert definition["QueryLanguage"] == "JSONata"
        (choice,) = definition["States"]["MatchesTheRule"]["Choices"]
        assert choice == {"Condition": "{% " + d.condition + " %}", "Next": "Alert"}
        alert = definition["States"]["Alert"]
        assert alert["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::sns:publish"}
        assert alert["Arguments"]["TopicArn"] == {"Ref": "AlertTopic"}


def test_no_target_pastes_event_values_into_a_template(doc):
    """EventBridge does not escape input-path values in an input template, so a value holding `"` breaks a JSON
    string template: no target transforms its input; the alert text is built by JSONata in the state machine."""
    for rule in rules_of(doc).values():
        for target in rule["Properties"]["Targets"]:
            target = target["Fn::If"][1] if "Fn::If" in target else target
            assert "InputTransformer" not in target and "Input" not in target and "InputPath" not in target


def test_every_target_retries_then_dead_letters_and_failures_alarm(doc, collected):
    resources = doc["Resources"]
    for d in collected[0]:
        props = resources[f"{d.name}Rule"]["Properties"]
        for target in props["Targets"]:
            target = target["Fn::If"][1] if "Fn::If" in target else target
            assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
        alarm = resources[f"{d.name}FailedInvocationsAlarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Events", "FailedInvocations")
        assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": f"{d.name}Rule"}}]
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] and alarm["TreatMissingData"] == "notBreaching"
        failed = resources[f"{d.name}ExecutionsFailedAlarm"]["Properties"]
        assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": f"{d.name}StateMachine"}}]
        for name in ("Rule", "StateMachine", "FailedInvocationsAlarm", "ExecutionsFailedAlarm"):
            assert resources[f"{d.name}{name}"].get("Condition") == ("InGlobalServiceRegion" if d.global_service_only else None)
    (statement,) = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"


def test_alert_topic_kms_key_is_optional(doc):
    parameter = doc["Parameters"]["AlertTopicKmsKeyArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    for arn in ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws-cn:kms:cn-north-1:111122223333:alias/alerts", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k", ""):
        assert pattern.fullmatch(arn), arn
    assert not pattern.fullmatch("arn:aws:sns:us-east-1:111122223333:topic")
    assert doc["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {
        "Fn::If": ["HasAlertTopicKmsKey", {"Ref": "AlertTopicKmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }


def test_no_arn_names_a_partition_literally(out, doc):
    """ARNs are built from AWS::Partition / data.aws_partition, so the stack deploys in aws-cn and aws-us-gov (the
    rules' own values, e.g. the AWSDenyAll policy ARN in each partition, aside; the parameters' patterns accept
    every partition)."""
    bare = json.loads(json.dumps(doc))
    for resource in bare["Resources"].values():
        resource["Properties"].pop("EventPattern", None)
        resource["Properties"].pop("Definition", None)
    texts = {"template": json.dumps(bare)} | {p.name: p.read_text(encoding="utf-8") for p in (out / "terraform").glob("*.tf")}
    for name, text in texts.items():
        assert "arn:aws:" not in text.replace("arn:aws[a-z-]*:", ""), name
    assert "arn:${AWS::Partition}:states:::sns:publish" in json.dumps(doc)
    assert "arn:${local.partition}:states:::sns:publish" in texts["main.tf"]


def test_requests_are_valid_for_the_events_api(doc):
    """Every AWS::Events::Rule as the PutRule and PutTargets requests CloudFormation makes, checked against
    botocore's `events` model (lengths, patterns, enums)."""
    put_rule, put_targets = input_shape("events", "PutRule"), input_shape("events", "PutTargets")
    for name, rule in rules_of(doc).items():
        props = rule["Properties"]
        request = {k: props[k] for k in ("Description", "EventPattern", "State", "EventBusName")}
        assert model_problems({"Name": name[:64], **request}, put_rule) == []
        alert = dict(props["Targets"][0], Arn="arn:aws:states:us-east-1:111122223333:stateMachine:m",
                     RoleArn="arn:aws:iam::111122223333:role/r", DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:111122223333:q"})
        assert model_problems({"Rule": name[:64], "Targets": [alert]}, put_targets) == []


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


def test_topic_policy_lets_the_alarms_of_this_account_publish(doc):
    """The state machines publish through their role (same account); the alarms through the topic policy."""
    (statement,) = doc["Resources"]["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
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


def alert_text(d, events: list[dict]) -> list:
    """The alert text the state machine of `d` publishes for each event (its Message, run by the reference JSONata)."""
    message = d.definition(None, None)["States"]["Alert"]["Arguments"]["Message"]
    assert message.startswith("{% ") and message.endswith(" %}")
    (row,) = evaluate([message[3:-3]], events)
    return row


@needs_jsonata
def test_alert_reads_who_from_where_on_whom_outcome_account_region_time_and_link(collected):
    """The Message JSONata on a fixture event: LeaveOrganization by a member's root user, denied by an SCP."""
    detections, _ = collected
    leave = next(d for d in detections if d.rule.slug == "aws_organizations_leave_organization")
    record = next(r for f in FIXTURE_FILES for r in f.records if r["eventID"] == "824fc332-48ce-4d35-840a-9f5a4c063ea0")
    event = wrap(record)
    (alert,) = alert_text(leave, [event])
    lines = alert.split("\n")
    assert lines[0] == f"AWS Account Left the Organization (high, rule version {leave.version})"
    assert lines[1] == f"Who: {record['userIdentity']['arn']} ({record['userIdentity']['type']})"
    assert lines[2] == f"From: {record['sourceIPAddress']}, {record['userAgent']}"
    assert lines[3] == f"On: recipientAccountId {record['recipientAccountId']}"
    assert lines[4] == f"Outcome: failed: {record['errorCode']} {record['errorMessage']}"
    assert lines[5] == f"Account: {event['account']}, Region: {event['region']}"
    assert lines[6] == f"Event: organizations.amazonaws.com LeaveOrganization at {record['eventTime']}, id {record['eventID']}"
    region = record["awsRegion"]
    assert lines[7] == f"Console: https://console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{record['eventID']}"
    assert lines[8] == f"Sigma rule {leave.rule.id}"


@needs_jsonata
@pytest.mark.parametrize(
    ("region", "host"),
    [("us-east-1", "console.aws.amazon.com"), ("cn-north-1", "console.amazonaws.cn"),
     ("cn-northwest-1", "console.amazonaws.cn"), ("us-gov-west-1", "console.amazonaws-us-gov.com")],
)
def test_console_link_is_the_partitions_console(collected, region, host):
    deleted = next(d for d in collected[0] if d.rule.slug == "aws_iam_user_deleted")
    record = next(r for f in FIXTURE_FILES for r in f.records if r.get("eventName") == "DeleteUser")
    event = dict(wrap(dict(record, awsRegion=region)), region=region)
    (alert,) = alert_text(deleted, [event])
    assert f"Console: https://{host}/cloudtrailv2/home?region={region}#/events/" in alert


@needs_jsonata
def test_alert_text_carries_any_value_verbatim(collected):
    """Quotes, backslashes, newlines, template-looking text and non-ASCII in the event's values reach the alert
    unchanged; a missing or non-string value never breaks it. (An input transformer would paste them unescaped.)"""
    deleted = next(d for d in collected[0] if d.rule.slug == "aws_iam_user_deleted")
    record = next(r for f in FIXTURE_FILES for r in f.records if r.get("eventName") == "DeleteUser")
    hostile = ['x"y', 'a\\"}, "b": "c', "line\nbreak", "<who> ${x} {% 1 %}", "é ß 😀", ""]
    events = []
    for value in hostile:
        events.append(wrap(dict(record, userAgent=value, requestParameters={"userName": value})))
    events.append(wrap({k: v for k, v in record.items() if k not in ("userAgent", "requestParameters", "sourceIPAddress")}))
    events.append(wrap(dict(record, userAgent=7, requestParameters={"userName": {"nested": True}})))
    texts = alert_text(deleted, events)
    for value, text in zip(hostile, texts):
        assert isinstance(text, str)
        assert f", {value}\n" in text and f"requestParameters.userName {value}" in text
    assert isinstance(texts[-2], str) and "From: , \n" in texts[-2]
    assert ", 7\n" in texts[-1] and 'requestParameters.userName {"nested":true}' in texts[-1]


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
        machine = doc["Resources"][f"{d.name}StateMachine"]["Properties"]["Definition"]
        assert entry["definition"]["States"]["MatchesTheRule"] == machine["States"]["MatchesTheRule"]
        assert entry["definition"]["States"]["Alert"]["Arguments"]["Message"] == machine["States"]["Alert"]["Arguments"]["Message"]
        assert entry["exact_pattern"] == d.exact
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
