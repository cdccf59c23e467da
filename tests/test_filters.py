"""Local tuning with Sigma filters (`--filters DIR`): loading is strict, the filters reach every target's
compiled query as the reference engine applies them, and the rules' locked versions do not move."""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.pipelines.cloudtrail.schema import CLOUDTRAIL_FIELDS, JSON_CONTAINER_FIELDS, is_cloudtrail_field

from cloudtrail_pack import cli
from cloudtrail_pack.compilation import compile_rules
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.filters import load_filters
from cloudtrail_pack.pack import PackError
from cloudtrail_pack.registry import TARGETS
from elastic_ingest import to_ecs
from evaluators import esql, logs_insights, lucene
from evaluators.spl import SplunkEvaluator
from fixture_corpus import FIXTURE_FILES, declared_differences

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "filters" / "examples"
sys.path.insert(0, str(ROOT / "tests" / "elastic"))
import elastic_eql  # noqa: E402

RUNBOOK_ROLE = "arn:aws:iam::111122223333:role/ConfigRemediationAutomation"


def record(event_id: str, identity: dict, name: str = "DeleteUser") -> dict:
    return {
        "eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": name, "eventID": event_id, "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15.0",
        "userIdentity": identity, "requestParameters": {"userName": "bob"},
    }


#: The records the example filters are about, beside ones they must leave alone.
TUNED = [
    record("runbook", {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ConfigRemediationAutomation/exec-1",
                       "sessionContext": {"sessionIssuer": {"type": "Role", "arn": RUNBOOK_ROLE, "userName": "ConfigRemediationAutomation"}}}),
    record("other-role", {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                          "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Admin", "userName": "Admin"}}}),
    record("cfn", {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/deployer", "userName": "deployer",
                   "invokedBy": "cloudformation.amazonaws.com"}),
    record("service", {"type": "AWSService", "invokedBy": "config.amazonaws.com"}),
    record("user", {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "userName": "ops"}),
]


@pytest.fixture(scope="module")
def examples(pack):
    return load_filters(EXAMPLES, pack)


@pytest.fixture(scope="module")
def records():
    return TUNED + [r for f in FIXTURE_FILES for r in f.records]


@pytest.fixture(scope="module")
def expected(pack, examples, records):
    """eventID -> base rules that match, as the reference engine applies the filters."""
    verdict = ReferenceEngine(pack, [r for r in pack.rules if not r.is_correlation], examples).run(records)
    return verdict.matches


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


FILTER = """title: t
id: 11111111-2222-4333-8444-555555555555
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [aws_iam_user_deleted]
  allowed: {userIdentity.arn: 'arn:aws:iam::111122223333:user/ops'}
  condition: not allowed
"""


def test_the_reference_engine_applies_the_example_filters(expected):
    assert expected["runbook"] == frozenset() and expected["service"] == frozenset() and expected["cfn"] == frozenset()
    assert expected["other-role"] == expected["user"] == frozenset({"0b40a563-9611-430c-ac03-6536096733f9"})


@pytest.mark.parametrize("target", ["cloudwatch", "splunk", "lucene", "eql", "esql"])
def test_every_target_applies_the_filters_as_the_reference_does(target, pack, examples, records, expected):
    from cloudtrail_pack.artifacts import splunk as splunk_writer
    from cloudtrail_pack.release.context import ReleaseOptions
    from release_helpers import release_for

    # the Splunk app has no search (nor tuning macro) for a correlation step: its query is in the correlation's
    rules = [r for r in pack.rules if not r.is_correlation and not (target == "splunk" and r.step_only)]
    queries = {}
    for rule in rules:
        try:
            (queries[rule.id],) = compile_rules(pack, TARGETS[target], rules=[rule], filters=examples)[rule.id]
        except PackError:
            continue  # a target's refusal (the build table says why): nothing to compare
    docs = [to_ecs(r) for r in records] if target in ("lucene", "eql", "esql") else None
    if target == "splunk":
        macros = splunk_writer.app_files(release_for(pack, splunk_writer, options=ReleaseOptions(filters=examples)))
        evaluator = SplunkEvaluator.from_macros_conf(macros["default/macros.conf"].decode())
    disagreements = []
    known = declared_differences(target)  # fixtures/manifest.yml `differences:`: the target's verdict reversed there
    for rule_id, query in queries.items():
        want = {e for e, ids in expected.items() if rule_id in ids} ^ {e for e, rules in known.items() if rule_id in rules}
        if target == "cloudwatch":
            got = {str(records[i]["eventID"]) for i in logs_insights.matching(query, records)}
        elif target == "splunk":
            got = {str(records[i]["eventID"]) for row in evaluator.run(query, records) for i in row.sources}
        elif target == "lucene":
            got = {d["event"]["id"] for d in docs if lucene.matches(query, d)}
        elif target == "eql":
            got = {d["event"]["id"] for seq in elastic_eql.run(query, docs) for d in seq}
        else:
            got = {d["event"]["id"] for d in esql.run(query, docs).documents}
        if got != want:
            disagreements.append((rule_id, sorted(got - want), sorted(want - got)))
    assert queries and disagreements == []


def test_a_filter_naming_no_rule_of_the_pack_is_an_error(tmp_path, pack):
    folder = write(tmp_path / "f", "typo.yml", FILTER.replace("aws_iam_user_deleted", "aws_iam_user_delted"))
    with pytest.raises(PackError, match=r"typo\.yml: filter 't' names 'aws_iam_user_delted', no rule of the pack"):
        load_filters(folder, pack)


def test_a_rule_in_the_filters_folder_is_an_error(tmp_path, pack):
    rule = (ROOT / "sigma" / "organizations" / "aws_organizations_leave_organization.yml").read_text()
    folder = write(tmp_path / "f", "rule.yml", rule)
    with pytest.raises(PackError, match=r"rule\.yml: a filters folder holds only Sigma filters"):
        load_filters(folder, pack)


def test_a_filter_for_another_log_source_is_an_error(tmp_path, pack):
    folder = write(tmp_path / "f", "win.yml", FILTER.replace("{product: aws, service: cloudtrail}", "{product: windows}"))
    with pytest.raises(PackError, match=r"win\.yml: filter 't' is for logsource windows/None"):
        load_filters(folder, pack)


def test_a_broken_filter_condition_names_the_filter_file(tmp_path, pack):
    folder = write(tmp_path / "f", "broken.yml", FILTER.replace("condition: not allowed", "condition: not 1 of allowed, other"))
    with pytest.raises(PackError, match=r"broken\.yml: filter 't'.*fix its condition"):
        load_filters(folder, pack)


def test_a_tuned_build_keeps_every_rule_version_and_says_which_filters_it_used(tmp_path):
    plain, tuned = tmp_path / "plain", tmp_path / "tuned"
    assert cli.main(["build", "--dist", str(plain)], root=ROOT) == 0
    assert cli.main(["build", "--dist", str(tuned), "--filters", str(EXAMPLES)], root=ROOT) == 0
    before, after = (json.loads((d / "manifest.json").read_text()) for d in (plain, tuned))
    assert [(r["id"], r["version"], r["sha256"]) for r in after["rules"]] == [(r["id"], r["version"], r["sha256"]) for r in before["rules"]]
    assert after["options"]["filters"] == [
        {"file": "aws_service_principals.yml", "id": "8b2d4e61-0f3a-4c95-b7d8-1a9e6c3f2d47", "title": "Allow AWS services acting on the account's behalf"},
        {"file": "aws_ssm_remediation_runbook.yml", "id": "3f0c6b2e-8d51-4b7e-9c2a-6e1d4f5a7b90",
         "title": "Allow the AWS Config remediation runbook to remove IAM users and their credentials"},
    ]
    assert before["options"]["filters"] == []
    again = tmp_path / "again"
    assert cli.main(["build", "--dist", str(again), "--filters", str(EXAMPLES)], root=ROOT) == 0
    assert (again / "SHA256SUMS").read_bytes() == (tuned / "SHA256SUMS").read_bytes()
    shutil.rmtree(again)


def test_scan_applies_the_filters(tmp_path, capsys):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in TUNED))
    assert cli.main(["scan", str(logs), "--jobs", "1", "--filters", str(EXAMPLES)], root=ROOT) == 0
    seen = sorted(json.loads(line)["eventID"] for line in capsys.readouterr().out.splitlines())
    assert seen == ["other-role", "user"]


UNKNOWN_FIELD = FILTER.replace("allowed: {userIdentity.arn:", "allowed: {src_country: RU, userIdentity.arn:")
UNKNOWN_FIELD_ERROR = ("error: f/geo.yml: filter 't': field(s) src_country do not exist in CloudTrail records; use CloudTrail's "
                       "field names (e.g. userIdentity.arn, userIdentity.sessionContext.sessionIssuer.arn)")


@pytest.mark.parametrize("verb", [["check"], ["build", "--dist", "out"], ["scan", "logs.jsonl", "--jobs", "1"],
                                  ["convert", "aws_iam_user_deleted", "splunk"]])
def test_a_filter_on_a_field_cloudtrail_lacks_is_refused_by_every_verb_naming_the_filter(tmp_path, monkeypatch, capsys, verb):
    """scan used to accept it (exit 0, the filter never matching), and check and build named the rule's file."""
    write(tmp_path / "f", "geo.yml", UNKNOWN_FIELD)
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TUNED))
    monkeypatch.chdir(tmp_path)
    assert cli.main([*verb, "--filters", "f"], root=ROOT) == 1
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.startswith("error:")] == [UNKNOWN_FIELD_ERROR]
    assert captured.out == "" and not (tmp_path / "out").exists()


@functools.cache
def the_pack():
    from cloudtrail_pack.pack import load_pack

    return load_pack(ROOT / "sigma")


FIELD_NAMES = st.one_of(
    st.sampled_from(sorted(CLOUDTRAIL_FIELDS | JSON_CONTAINER_FIELDS)),
    st.builds("{}{}".format, st.sampled_from(["requestParameters.", "responseElements.", "userIdentity.", "tlsDetails.", ""]),
              st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}(\.[A-Za-z0-9_]{1,6})?", fullmatch=True)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=FIELD_NAMES, fieldref=st.booleans())
@example(name="src_country", fieldref=False)
@example(name="userIdentity.arn", fieldref=False)
@example(name="userIdentity.sessionContext.sessionIssuer.arn", fieldref=True)
@example(name="userIdentity", fieldref=False)
@example(name="requestParameters.userName", fieldref=True)
@example(name="userIdentity.unknownKey", fieldref=True)
def test_loading_a_filter_refuses_exactly_the_fields_the_targets_refuse(tmp_path_factory, name, fieldref):
    """load_filters (scan, check, build, convert) and every target's compilation agree on each filter field: a
    field the filter loader accepts never fails a compilation as unknown, and one it refuses is named with the file."""
    pack = the_pack()  # not the fixture: hypothesis would print it with a failing example, and cannot
    value = f"{{{name}|fieldref: userIdentity.arn}}" if fieldref else f"{{{name}: x}}"
    folder = write(tmp_path_factory.mktemp("f"), "x.yml", FILTER.replace(
        "allowed: {userIdentity.arn: 'arn:aws:iam::111122223333:user/ops'}", f"allowed: {value}"))
    rule = [r for r in pack.rules if r.name == "aws_iam_user_deleted"]
    try:
        filters = load_filters(folder, pack)
    except PackError as e:
        assert not is_cloudtrail_field(name) and e.path.name == "x.yml" and f"field(s) {name} do not exist" in e.message
        return
    assert is_cloudtrail_field(name)
    from cloudtrail_pack.compilation import compile_pack
    from cloudtrail_pack.registry import TARGETS

    errors: list[str] = []
    compile_pack(pack, [(t, "default") for t in TARGETS.values()], rules=rule, filters=filters, on_error=lambda _r, _t, e: errors.append(e.message))
    assert not [e for e in errors if "do not exist in CloudTrail records" in e]  # others: what a target cannot express


def test_a_filter_field_a_target_cannot_express_fails_the_build_on_the_filter_file(tmp_path, monkeypatch, capsys):
    """The ECS pipeline has no home for userIdentity.userName unless the detection pins userIdentity.type: the
    error is the filter's, not the rule's (the rule compiles without it)."""
    write(tmp_path / "f", "name.yml", FILTER.replace("allowed: {userIdentity.arn:", "allowed: {userIdentity.userName:"))
    monkeypatch.chdir(tmp_path)
    for verb in (["check"], ["build", "--dist", "out"]):
        assert cli.main([*verb, "--filters", "f"], root=ROOT) == 1
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and err[0].startswith(
            "error: f/name.yml: filter 't' on rule 'AWS IAM User Deleted': Elastic Lucene: ecs_cloudtrail: field userIdentity.userName "
            "has no field in Elastic's AWS CloudTrail integration"), err
        assert err[0].endswith("; fix the filter")


REGEX_FILTER = """title: Allow the build agent by user agent
id: 2b9c1d7e-5a44-4f0e-9d3b-7c8e6f1a2b34
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [aws_iam_user_deleted]
  agent: {userAgent: 'build-agent/?*'}
  condition: not agent
"""


def test_the_build_table_and_manifest_say_which_filter_cost_a_target(tmp_path, monkeypatch, capsys):
    """A filter EventBridge cannot express (Sigma's `?` wildcard: neither a pattern nor the state machine's Choice has
    an exact form) turns 'AWS IAM User Deleted', ok there without
    filters, into n/a: the table marks the cell n/a:filter and its note names the filter; the manifest's reason
    for that target starts with the filter. A rule EventBridge refuses on its own (a correlation) stays plain n/a, its reason
    its own, and so do the targets that express the filter."""
    write(tmp_path / "f", "agent.yml", REGEX_FILTER)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--dist", "out", "--filters", "f"], root=ROOT) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if line.startswith("rule "))
    columns = header.split()[2:]
    row = next(line for line in out if line.startswith("AWS IAM User Deleted "))
    cells = dict(zip(columns, row[len("AWS IAM User Deleted"):].split()[1:]))
    assert cells["eventbridge"] == "n/a:filter" and cells["cloudwatch"] == "ok" and cells["athena"] == "ok"
    note = "  n/a eventbridge: local filter 'Allow the build agent by user agent' (agent.yml): userAgent: the single-character wildcard '?' has no exact state machine form"
    assert note in out
    inline = next(line for line in out if line.startswith("AWS IAM Inline Deny-All Policy Put "))
    assert "n/a:filter" not in inline
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    targets = {r["name"]: r["targets"] for r in manifest["rules"]}
    assert targets["aws_iam_user_deleted"]["eventbridge"] == note.split(": ", 1)[1]
    assert targets["aws_iam_user_deleted"]["cloudwatch"] is True
    assert targets["aws_iam_inline_deny_all_policy_put"]["eventbridge"] is True  # a rule the filter does not name
    # the mass-deletion correlation is n/a on EventBridge with or without the filter: its own reason, not the filter's
    from cloudtrail_pack.compilation import compile_pack

    mass = [r for r in the_pack().rules if r.name == "aws_iam_user_deleted_mass"]
    eventbridge = TARGETS["eventbridge"]
    untuned = compile_pack(the_pack(), [(eventbridge, eventbridge.table_format)], rules=mass)
    assert targets["aws_iam_user_deleted_mass"]["eventbridge"] == untuned.result(mass[0], "eventbridge", eventbridge.table_format).reason


def test_an_untuned_build_names_no_filter(tmp_path, capsys):
    assert cli.main(["check"], root=ROOT) == 0
    out = capsys.readouterr().out
    assert "n/a:filter" not in out and "local filter" not in out
