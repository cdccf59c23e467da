"""The service control policies, checked by parliament (the Python API and its CLI), by the writer's own
SCP rules, and against the rules they back: every API call the T1531/T1666 rules detect in a member account
is denied by a shipped SCP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.artifacts import mitigations
from cloudtrail_pack.pack import PackError

SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# Called from the management account, where SCPs never apply (see data/mitigations/README.md).
NOT_PREVENTABLE_BY_SCP = {
    "organizations:removeaccountfromorganization",
    # Management-account calls (Organizations API reference: "This operation can be called only from the
    # organization's management account"): creating, inviting and moving accounts.
    "organizations:createaccount",
    "organizations:creategovcloudaccount",
    "organizations:inviteaccounttoorganization",
    "organizations:moveaccount",
    # Accepted by an account joining an organization: an account that is not a member yet, or has just left
    # (an account belongs to one organization), so no SCP of the organization it leaves applies any more.
    "organizations:accepthandshake",
    # IAM Identity Center's identity store is administered from the management account unless a delegated
    # administrator account is registered (IAM Identity Center user guide, "Delegated administration").
    "identitystore:deleteuser",
    "sso-directory:deleteuser",
    "sso-directory:disableuser",
}


def parliament_findings(text: str) -> list[tuple[str, str, str]]:
    """(issue, severity, detail) for every finding, the community auditors included."""
    import parliament
    from parliament import analyze_policy_string

    community = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    severities = {k: v.get("severity", "") for k, v in parliament.config.items()}
    severities.update({k: v.get("severity", "") for k, v in (yaml.safe_load(community.read_text()) or {}).items()})
    policy = analyze_policy_string(text, include_community_auditors=True)
    return [(f.issue, severities.get(f.issue, "UNKNOWN"), str(f.detail)) for f in policy.findings]


@pytest.fixture(scope="module")
def written(tmp_path_factory, pack):
    out = tmp_path_factory.mktemp("mitigations")
    return out, mitigations.write_policies(out)


def test_writer_copies_policies_and_readme_byte_for_byte(written):
    out, paths = written
    names = [p.name for p in paths]
    assert names == sorted(names) and "README.md" in names
    assert {n for n in names if n.endswith(".json")} == {p.name for p in mitigations.policy_files()}
    for p in paths:
        assert p.read_bytes() == (mitigations.SOURCE_DIR / p.name).read_bytes()


@pytest.mark.parametrize("policy", mitigations.policy_files(), ids=lambda p: p.name)
def test_parliament_reports_nothing_above_low(policy):
    findings = parliament_findings(policy.read_text(encoding="utf-8"))
    assert [f for f in findings if SEVERITIES.index(f[1]) > SEVERITIES.index("LOW") if f[1] in SEVERITIES] == []
    assert [f for f in findings if f[1] not in SEVERITIES] == []
    assert findings == []  # in fact nothing at all


@pytest.mark.parametrize("policy", mitigations.policy_files(), ids=lambda p: p.name)
def test_parliament_finds_every_action_and_resource_valid(policy):
    """parliament checks that resources fit the actions only in Allow statements: the same statements as
    Allow must have no INVALID or MALFORMED finding (unknown action, resource mismatch, bad condition)."""
    import parliament

    doc = json.loads(policy.read_text(encoding="utf-8"))
    for statement in doc["Statement"]:
        statement["Effect"] = "Allow"
    findings = parliament_findings(json.dumps(doc))
    groups = {issue: parliament.config.get(issue, {}).get("group") for issue, _, _ in findings}
    assert [f for f in findings if groups[f[0]] in {"INVALID", "MALFORMED"}] == []


def test_parliament_cli_on_the_written_folder(written):
    out, _ = written
    cli = Path(sys.executable).parent / "parliament"
    result = subprocess.run(
        [str(cli), "--directory", str(out), "--include_policy_extension", ".json", "--include-community-auditors",
         "--minimum_severity", "INFO"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "")


def test_parliament_is_really_checking():
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:DeleteUsr", "Resource": "arn:aws:iam::*:mfa/*"}]}
    assert [f[0] for f in parliament_findings(json.dumps(bad))] == ["UNKNOWN_ACTION"]


def test_writer_rejects_what_aws_organizations_rejects(tmp_path):
    good = (mitigations.SOURCE_DIR / "scp-deny-leave-organization.json").read_text(encoding="utf-8")
    assert mitigations.policy_problems(good) == []
    doc = json.loads(good)
    doc["Statement"][0]["Principal"] = "*"
    doc["Statement"][0]["Effect"] = "Allow"
    doc["Statement"][0]["Action"] = "organizations leave"
    problems = mitigations.policy_problems(json.dumps(doc, indent=2) + "\n")
    assert any("Principal" in p for p in problems) and any("Deny" in p for p in problems)
    assert any("malformed action" in p for p in problems)
    assert mitigations.policy_problems(good.rstrip("\n") + " " * mitigations.SCP_MAX_CHARS + "\n")
    assert mitigations.policy_problems('{"Version": "2012-10-17", "Version": "2012-10-17"}\n')
    (tmp_path / "scp-bad.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("x\n")
    with pytest.raises(PackError, match="scp-bad.json"):
        mitigations.write_policies(tmp_path / "out", source=tmp_path)


def test_break_glass_exception_is_a_documented_placeholder():
    doc = json.loads((mitigations.SOURCE_DIR / "scp-protect-iam-users.json").read_text(encoding="utf-8"))
    for statement in doc["Statement"]:
        assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalARN": mitigations.BREAK_GLASS_PLACEHOLDER}}
    readme = (mitigations.SOURCE_DIR / "README.md").read_text(encoding="utf-8")
    assert mitigations.BREAK_GLASS_PLACEHOLDER.split("/")[-1] in readme
    for command in ("aws organizations create-policy", "aws organizations attach-policy", "SERVICE_CONTROL_POLICY"):
        assert command in readme


def _event_names(rule) -> set[tuple[str, str]]:
    """(eventSource, eventName) pairs a base rule matches on, read from its detection items."""
    from sigma.rule import SigmaDetection, SigmaDetectionItem

    def walk(node, values):
        if isinstance(node, SigmaDetectionItem):
            if node.field in values:
                values[node.field] |= {str(v) for v in node.value}
        elif isinstance(node, SigmaDetection):
            for item in node.detection_items:
                walk(item, values)

    # A selection naming both pairs its own values (a rule may watch two services); selections naming only
    # a source or only names pair with each other.
    pairs, lone = set(), {"eventSource": set(), "eventName": set()}
    for detection in rule.detection.detections.values():
        values: dict[str, set[str]] = {"eventSource": set(), "eventName": set()}
        walk(detection, values)
        if values["eventSource"] and values["eventName"]:
            pairs |= {(s, n) for s in values["eventSource"] for n in values["eventName"]}
        else:
            for key in lone:
                lone[key] |= values[key]
    return pairs | {(s, n) for s in lone["eventSource"] for n in lone["eventName"]}


def test_every_detected_call_is_denied_by_a_shipped_scp(pack):
    denied = set().union(*(mitigations.denied_actions(p) for p in mitigations.load_policies().values()))
    detected = set()
    for rule in pack.rules:
        if rule.is_correlation:
            continue
        for source, name in _event_names(rule.rule):
            detected.add(f"{source.split('.')[0]}:{name}".lower())
    assert detected  # the walk found the rules' calls
    assert detected - NOT_PREVENTABLE_BY_SCP <= denied, detected - NOT_PREVENTABLE_BY_SCP - denied


def test_writer_output_is_byte_deterministic(tmp_path, pack, tree_bytes):
    first = mitigations.write_policies(tmp_path / "a")
    second = mitigations.write_policies(tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")


def test_a_sid_that_is_not_a_string_is_a_problem_not_a_crash():
    """A Sid that is a list or an object (JSON allows it) is reported like any malformed Sid; the uniqueness check
    used to hash it and fail with TypeError: unhashable type."""
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": ["A"], "Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"},
        {"Sid": {"B": 1}, "Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"},
    ]}
    problems = mitigations.policy_problems(json.dumps(doc) + "\n")
    assert [p for p in problems if "Sid must be alphanumeric" in p] == [
        "statement ['A']: Sid must be alphanumeric", "statement {'B': 1}: Sid must be alphanumeric"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_STATEMENT_KEYS = st.sampled_from(["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.dictionaries(_STATEMENT_KEYS, _JSON, max_size=6) | _JSON, max_size=3), _JSON)
@example([{"Sid": ["A"]}, {"Sid": ["A"]}], "2012-10-17")
@example([{"Sid": {"x": None}, "Action": [["iam:DeleteUser"]], "Resource": [{"a": 1}], "Condition": []}], None)
@example([{"Sid": "A"}, {"Sid": "A"}], "2012-10-17")
@example([None, 1, "x", []], "2012-10-17")
def test_policy_problems_reports_any_json_policy_without_raising(statements, version):
    """Whatever JSON a policy file holds, the checker answers with a list of problems (the build's one-line error)
    and never raises; a document it accepts is one AWS Organizations' rules allow."""
    problems = mitigations.policy_problems(json.dumps({"Version": version, "Statement": statements}) + "\n")
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    if not problems:
        assert version == "2012-10-17" and statements and all(s.get("Effect") == "Deny" for s in statements)
