"""Local values (`values:` documents in the `--filters` folder): a user's own role names join the organization's
access roles in every target as the reference engine applies them, loading is strict, and the rule's version stays."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sigma.backends.eventbridge.jsonata import regex_problem

from cloudtrail_pack import cli
from cloudtrail_pack.compilation import compile_rules
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.filters import load_filters
from cloudtrail_pack.local_values import SigmaValues
from cloudtrail_pack.pack import PackError, load_pack
from cloudtrail_pack.registry import TARGETS
from sigma.pipelines.cloudtrail import pysigma_compat
from elastic_ingest import to_ecs
from evaluators import esql, logs_insights, lucene
from evaluators.spl import SplunkEvaluator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "elastic"))
import elastic_eql  # noqa: E402

RULE = "15690537-a30f-4e5f-b8a2-abf8296e6ae6"  # AWS IAM Organization Access Role Deleted or Stripped
VALUES = """title: Our administration and break-glass roles
id: 0f6b1c2e-7a4d-4e8b-9c31-5d2a8e7f4b10
logsource:
    product: aws
    service: cloudtrail
values:
    rules:
        - aws_iam_organization_access_role_removed
    selection_access_roles:
        requestParameters.roleName:
            - BreakGlassAdmin
            - platform-admin-*
            - ops.admin
"""


def record(event_id: str, role: str, name: str = "DeleteRole") -> dict:
    return {
        "eventVersion": "1.11", "eventTime": "2026-06-11T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": name, "eventID": event_id, "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15.0", "requestParameters": {"roleName": role},
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "userName": "ops"},
    }  # fmt: skip


#: eventID -> (role name, matches once the values are added)
CASES = {
    "break-glass": ("BreakGlassAdmin", True),
    "break-glass-lower": ("breakglassadmin", True),
    "break-glass-longer": ("BreakGlassAdmin2", True),  # names match as prefixes (the rule's expression has no $)
    "break-glass-inside": ("old-BreakGlassAdmin", False),
    "platform": ("platform-admin-eu-west-1", True),
    "platform-upper": ("PLATFORM-ADMIN-X", True),
    "platform-bare": ("platform-admin", False),
    "dot": ("ops.admin", True),
    "dot-is-literal": ("opsxadmin", False),
    "shipped": ("OrganizationAccountAccessRole", True),
    "ordinary": ("legacy-etl-role", False),
}
RECORDS = [record(event_id, role) for event_id, (role, _) in CASES.items()]


def write(folder: Path, text: str, name: str = "roles.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def values(pack, tmp_path_factory):
    return load_filters(write(tmp_path_factory.mktemp("values"), VALUES), pack)


def test_the_shipped_rule_matches_only_its_own_names(pack):
    got = ReferenceEngine(pack, [pack.by_id(RULE)]).run(RECORDS).matches
    assert {e for e, ids in got.items() if RULE in ids} == {"shipped"}


def test_the_reference_engine_adds_the_names(pack, values):
    got = ReferenceEngine(pack, [pack.by_id(RULE)], values).run(RECORDS).matches
    assert {e for e, ids in got.items() if RULE in ids} == {e for e, (_, hit) in CASES.items() if hit}


@pytest.mark.parametrize("target", ["cloudwatch", "splunk", "lucene", "eql", "esql"])
def test_every_target_adds_the_names_as_the_reference_does(target, pack, values):
    (query,) = compile_rules(pack, TARGETS[target], rules=[pack.by_id(RULE)], filters=values)[RULE]
    docs = [to_ecs(r) for r in RECORDS]
    if target == "cloudwatch":
        got = {RECORDS[i]["eventID"] for i in logs_insights.matching(query, RECORDS)}
    elif target == "splunk":
        from cloudtrail_pack.artifacts import splunk as splunk_writer
        from cloudtrail_pack.release.context import ReleaseOptions
        from release_helpers import release_for

        macros = splunk_writer.app_files(release_for(pack, splunk_writer, options=ReleaseOptions(filters=values)))
        evaluator = SplunkEvaluator.from_macros_conf(macros["default/macros.conf"].decode())
        got = {RECORDS[i]["eventID"] for row in evaluator.run(query, RECORDS) for i in row.sources}
    elif target == "lucene":
        got = {d["event"]["id"] for d in docs if lucene.matches(query, d)}
    elif target == "eql":
        got = {d["event"]["id"] for seq in elastic_eql.run(query, docs) for d in seq}
    else:
        got = {d["event"]["id"] for d in esql.run(query, docs).documents}
    assert got == {e for e, (_, hit) in CASES.items() if hit}


def test_scan_adds_the_names_and_the_build_keeps_the_rule_version(tmp_path, capsys):
    folder = write(tmp_path / "f", VALUES)
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert cli.main(["scan", str(logs), "--jobs", "1", "--filters", str(folder), "--rules", RULE], root=ROOT) == 0
    seen = {json.loads(line)["eventID"] for line in capsys.readouterr().out.splitlines()}
    assert seen == {e for e, (_, hit) in CASES.items() if hit}
    plain, tuned = tmp_path / "plain", tmp_path / "tuned"
    assert cli.main(["build", "--dist", str(plain)], root=ROOT) == 0
    assert cli.main(["build", "--dist", str(tuned), "--filters", str(folder)], root=ROOT) == 0
    before, after = (json.loads((d / "manifest.json").read_text()) for d in (plain, tuned))
    assert [(r["id"], r["version"]) for r in after["rules"]] == [(r["id"], r["version"]) for r in before["rules"]]
    assert after["options"]["filters"] == [
        {"file": "roles.yml", "id": "0f6b1c2e-7a4d-4e8b-9c31-5d2a8e7f4b10", "title": "Our administration and break-glass roles"}]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("aws_iam_organization_access_role_removed", "aws_iam_organisation_access_role_removed"),
         r"roles\.yml: local values 'Our administration and break-glass roles' name 'aws_iam_organisation_access_role_removed', no detection rule"),
        (("selection_access_roles:", "selection_roles:"), r"roles\.yml: .*has no selection 'selection_roles'"),
        (("requestParameters.roleName:", "requestParameters.userName:"), r"roles\.yml: .*has no item on requestParameters\.userName"),
        (("requestParameters.roleName:", "requestParameters.roleNmae:"), r"roles\.yml: .*has no item on requestParameters\.roleNmae"),
        (("requestParameters.roleName:", "src_country:"), r"roles\.yml: .*src_country do not exist in CloudTrail"),
        (("            - ops.admin\n", "            - 7\n"), r"roles\.yml: .*each value must be a non-empty string"),
        (("            - ops.admin\n", "            - ops?admin\n"), r"roles\.yml: .*\? wildcard has no regular expression form"),
        (("id: 0f6b1c2e-7a4d-4e8b-9c31-5d2a8e7f4b10", "id: seven"), r"roles\.yml: local values .*is not a UUID"),
        (("service: cloudtrail", "service: guardduty"), r"roles\.yml: local values .*logsource must be"),
        (("title: Our", "titel: Our"), r"roles\.yml: local values document: unknown key\(s\) titel"),
        (("    rules:\n        - aws_iam_organization_access_role_removed\n", "    rules:\n        - aws_iam_user_deleted\n"),
         r"roles\.yml: .*rule 'AWS IAM User Deleted' has no selection 'selection_access_roles'"),
    ],
)
def test_loading_refuses_values_that_would_add_nothing_naming_the_file(tmp_path, pack, change, message):
    with pytest.raises(PackError, match=message):
        load_filters(write(tmp_path / "f", VALUES.replace(*change)), pack)


def test_values_on_an_item_of_another_kind_are_refused(tmp_path, pack):
    """eventName of aws_iam_user_deleted is a plain string; its eventSource selection holds a regex-free item, but an
    item with a modifier (|contains, |endswith) cannot take raw values: refused, not silently mis-added."""
    text = VALUES.replace("aws_iam_organization_access_role_removed", "aws_iam_user_login_profile_removed_or_changed")
    rule = pack.by_id("aws_iam_user_login_profile_removed_or_changed").rule
    modified = [(name, i.field) for name, d in rule.detection.detections.items() for i in d.detection_items
                if getattr(i, "modifiers", None) and i.field]
    if not modified:
        pytest.skip("no item with a modifier in that rule")
    name, field = modified[0]
    text = text.replace("selection_access_roles:", f"{name}:").replace("requestParameters.roleName:", f"{field}:")
    with pytest.raises(PackError, match=r"roles\.yml: .*values cannot be added to it"):
        load_filters(write(tmp_path / "f", text), pack)


def _prefix_match(value: str, name: str) -> bool:
    """What the rule means by a name: a prefix of the role name (the expression has no end anchor), any letter case,
    `*` any run, `?` one character."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.match(pattern, name, re.I | re.S) is not None


PACK = load_pack()
ROLE_CHARS = st.sampled_from(list("abcXYZ019_+=,.@-*?"))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=st.text(ROLE_CHARS, min_size=1, max_size=8), name=st.text(st.sampled_from(list("abcXYZ019_+=,.@-")), max_size=8))
@example(value="a.b", name="axb")
@example(value="a*", name="A")
@example(value="a?", name="a")
@example(value="+", name="+")
@example(value="ab", name="AB")
@example(value="stacksets-exec-", name="stacksets-exec-")
@example(value="x*", name="xa")
@example(value="a*b", name="a-B")
@example(value="-", name="-")
def test_an_added_value_matches_exactly_what_sigma_means_by_it(value, name):
    """The value joins the rule's one regular expression as an alternative: a name matches the widened expression
    iff it matches a shipped name or starts with the value as Sigma reads it (any case, wildcards); the expression
    stays one EventBridge can run (no flags, no `$`)."""
    rule = pysigma_compat.detached_copy(PACK.by_id(RULE).rule)
    shipped = rule.detection.detections["selection_access_roles"].detection_items[0].value[0]
    values = SigmaValues("t", None, (RULE,), (("selection_access_roles", "requestParameters.roleName", (value,)),))
    if "?" in value:
        with pytest.raises(ValueError, match=r"\? wildcard has no regular expression form"):
            values.apply_on_rule(rule)
        return
    values.apply_on_rule(rule)
    (widened,) = rule.detection.detections["selection_access_roles"].detection_items[0].value
    assert widened.flags == shipped.flags == set()
    assert regex_problem(str(widened.regexp)) is None
    got = re.search(str(widened.regexp), name) is not None
    was = re.search(str(shipped.regexp), name) is not None
    assert got == (was or _prefix_match(value, name))
