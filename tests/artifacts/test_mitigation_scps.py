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

import rule_facts as facts

from cloudtrail_pack.artifacts import mitigations
from cloudtrail_pack.pack import PackError

ROOT = Path(__file__).resolve().parents[2]
SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
#: Detected calls no SCP can stop, with the reason: product data beside the policies (not shipped).
NOT_PREVENTABLE_FILE = mitigations.SOURCE_DIR / "not-preventable.yml"


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


def detected_calls(pack) -> dict[str, list]:
    """{service:Action, lower-cased: the base rules matching it} for every call a base rule matches."""
    calls: dict[str, list] = {}
    for rule in pack.rules:
        for source, name in sorted(facts.event_calls(rule.rule)):
            calls.setdefault(f"{source.split('.')[0]}:{name}".lower(), []).append(rule)
    return calls


def not_preventable() -> dict[str, str]:
    listed = yaml.safe_load(NOT_PREVENTABLE_FILE.read_text(encoding="utf-8")) or {}
    assert all(isinstance(v, str) and v.strip() for v in listed.values()), f"{NOT_PREVENTABLE_FILE.name}: every call needs its reason"
    return {action.lower(): reason for action, reason in listed.items()}


def test_every_detected_call_is_denied_by_a_shipped_scp_or_says_why_not(pack):
    """What the README promises: each call the rules detect in a member account is denied by a shipped SCP; the
    few that happen where no SCP applies are listed in not-preventable.yml with the reason."""
    denied = set().union(*(mitigations.denied_actions(p) for p in mitigations.load_policies().values()))
    calls = detected_calls(pack)
    assert calls  # the walk found the rules' calls
    uncovered = [
        f"{action} ({', '.join(f'{r.title}, {r.path}' for r in rules)}): deny it in a statement of "
        f"{mitigations.SOURCE_DIR.relative_to(ROOT)}/scp-*.json (and name it in README.md's table there), or, if no SCP "
        f"can stop it, add `{action}: <why>` to {NOT_PREVENTABLE_FILE.relative_to(ROOT)}"
        for action, rules in sorted(calls.items())
        if action not in denied and action not in not_preventable()
    ]
    assert not uncovered, "detected calls no shipped SCP denies:\n" + "\n".join(uncovered)


def test_not_preventable_lists_only_detected_calls_no_scp_denies(pack):
    denied = set().union(*(mitigations.denied_actions(p) for p in mitigations.load_policies().values()))
    listed = not_preventable()
    assert sorted(set(listed) - set(detected_calls(pack))) == [], f"{NOT_PREVENTABLE_FILE.name}: no rule detects these"
    assert sorted(set(listed) & denied) == [], f"{NOT_PREVENTABLE_FILE.name}: a shipped SCP denies these"


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
