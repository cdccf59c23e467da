"""`cloudtrail-pack new-rule` in a copy of the project: a skeleton that passes the rule checks, fixture stubs and
manifest entries appended as text, what is left to fill by file and line, nothing overwritten, the same bytes given
--id and --date; and the README's claim, proved: adding a rule touches sigma/, fixtures/ and version.lock.json
only, and the rule-level tests pass once its fixtures are filled in."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import cli
from cloudtrail_pack.cli import new_rule

ROOT = Path(__file__).resolve().parents[1]
#: What a rule author's change may touch, and what the scaffold test copies (tests/ for the rule-level tests).
SOURCES = ("sigma", "fixtures", "version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml")
AUTHORED = ("sigma/", "fixtures/", "version.lock.json")
RULE_ID = "5f2d6a0e-3c1b-4b7e-9a8d-2e4f6c8b0a11"
DELETE_GROUP = [
    "--folder", "iam", "--name", "aws_iam_group_deleted", "--title", "AWS IAM Group Deleted",
    "--event-source", "iam.amazonaws.com", "--event-name", "DeleteGroup", "--level", "low",
    "--id", RULE_ID, "--date", "2026-12-10", "--author", "CloudTrail Detection Pack",
]  # fmt: skip
WRITTEN = ("sigma/iam/aws_iam_group_deleted.yml", "fixtures/iam/aws_iam_group_deleted.json",
           "fixtures/iam/aws_iam_group_deleted.jsonl", "fixtures/manifest.yml")  # fmt: skip


def copy_project(to: Path, with_tests: bool = False) -> Path:
    to.mkdir(parents=True)
    for name in SOURCES + (("tests",) if with_tests else ()):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, to / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        else:
            shutil.copy2(source, to / name)
    return to


def tree(root: Path) -> dict[str, bytes]:
    skip = {"__pycache__", ".hypothesis", ".pytest_cache"}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip & set(p.relative_to(root).parts)
    }


def run(root: Path, *argv: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["--root", str(root), "new-rule", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


def test_the_skeleton_passes_the_rule_checks_and_the_manifest_keeps_every_line(project, capsys):
    from cloudtrail_pack.pack import load_pack
    from cloudtrail_pack.project import Project
    from cloudtrail_pack.validation import findings

    before = (project / "fixtures" / "manifest.yml").read_text(encoding="utf-8")
    code, out, err = run(project, *DELETE_GROUP, capsys=capsys)
    assert (code, err) == (0, "")
    pack = load_pack(project / "sigma", Project.at(project))
    rule = pack.by_id(RULE_ID)
    assert (rule.title, rule.level, str(rule.path)) == ("AWS IAM Group Deleted", "low", "sigma/iam/aws_iam_group_deleted.yml")
    assert {str(t) for t in rule.rule.tags} == {"attack.impact", "attack.t1531"}  # the folder's technique, its tactic
    assert findings(pack) == []
    after = (project / "fixtures" / "manifest.yml").read_text(encoding="utf-8")
    old, new = before.splitlines(), after.splitlines()
    edits = [(op, i1, j1, j2) for op, i1, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes() if op != "equal"]
    (op, at, j1, j2), (op2, end, k1, k2) = edits  # two insertions, nothing changed or removed
    assert (op, op2, end, k2) == ("insert", "insert", len(old), len(new))
    assert new[j1:j2] == [f"#   {RULE_ID}  AWS IAM Group Deleted"] and old[at - 1].startswith("#   08069984-")  # the list of rules
    assert new[k1].startswith("  iam/aws_iam_group_deleted.json:")  # the entries at the end
    files = yaml.safe_load(after)["files"]
    assert files["iam/aws_iam_group_deleted.json"]["format"] == "s3"
    assert files["iam/aws_iam_group_deleted.jsonl"]["format"] == "jsonl"
    assert sorted(len(v) for f in ("json", "jsonl") for v in files[f"iam/aws_iam_group_deleted.{f}"]["expect"].values()) == [0, 0, 1, 1]


def test_what_is_left_to_fill_is_named_by_file_and_line(project, capsys, monkeypatch):
    """Every line of the written files holding the placeholder is listed, once, by file and line (relative to the
    working directory), and nothing else is listed as left to fill."""
    monkeypatch.chdir(project)
    code, out, _ = run(project, *DELETE_GROUP, capsys=capsys)
    assert code == 0
    left = out.split("left to fill:\n")[1].split("\nthen: ")[0].splitlines()
    listed = [re.match(r"  (\S+?):(\d+): ", line) for line in left if "the new rule matches it" not in line and "SCP" not in line]
    assert all(listed), left
    placeholders = [
        (path, number)
        for path in WRITTEN
        for number, line in enumerate((project / path).read_text(encoding="utf-8").splitlines(), 1)
        if new_rule.PLACEHOLDER in line
    ]
    assert sorted((m.group(1), int(m.group(2))) for m in listed) == sorted(placeholders)
    assert {path for path, _ in placeholders} == set(WRITTEN)  # the rule, both stubs and their entries


def test_the_other_fixture_records_the_rule_matches_and_the_scp_to_extend_are_named(project, capsys):
    """The corpus already holds a DeleteGroup (a look-alike of the mass-deletion files): the manifest must list
    the new rule there. No shipped SCP denies iam:DeleteGroup: say where to add it."""
    code, out, _ = run(project, *DELETE_GROUP, capsys=capsys)
    assert code == 0
    lines = (project / "fixtures" / "manifest.yml").read_text().splitlines()
    (line,) = [l for l in out.splitlines() if "the new rule matches it" in l]
    number = int(re.search(r"fixtures/manifest.yml:(\d+):", line).group(1))
    assert "cc7177bb-3b1d-46a7-9371-8bffd6818f86" in lines[number - 1] and "correlation/mass_deletion_two_deletions.jsonl" in line
    assert f"add {RULE_ID} to its list" in line
    assert "no shipped SCP denies iam:DeleteGroup" in out and "not-preventable.yml" in out


def test_given_an_id_and_a_date_the_output_is_the_same_every_time(tmp_path, capsys):
    written = []
    for name in ("a", "b"):
        root = copy_project(tmp_path / name)
        assert run(root, *DELETE_GROUP, capsys=capsys)[0] == 0
        written.append({p: (root / p).read_bytes() for p in WRITTEN})
    assert written[0] == written[1]


def test_nothing_is_overwritten(project, capsys):
    before = tree(project)
    (project / "fixtures" / "iam" / "aws_iam_group_deleted.jsonl").write_text("mine\n")
    code, _, err = run(project, *DELETE_GROUP, capsys=capsys)
    assert code == 2 and "aws_iam_group_deleted.jsonl exists (new-rule never overwrites)" in err
    assert tree(project) == {**before, "fixtures/iam/aws_iam_group_deleted.jsonl": b"mine\n"}
    (project / "fixtures" / "iam" / "aws_iam_group_deleted.jsonl").unlink()
    assert run(project, *DELETE_GROUP, capsys=capsys)[0] == 0
    again = tree(project)
    other = [a if a != RULE_ID else "6a7b8c9d-0000-4000-8000-000000000001" for a in DELETE_GROUP]
    code, _, err = run(project, *[a if a != "AWS IAM Group Deleted" else "Another Title" for a in other], capsys=capsys)
    assert code == 2 and "'aws_iam_group_deleted' is a rule of the pack already" in err
    assert tree(project) == again


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--name", "iam_group_deleted", "a file name aws_<service>_<what>"),
        ("--name", "../aws_x", "a file name aws_<service>_<what>"),
        ("--folder", "iam/../..", "a folder name"),
        ("--event-source", "iam", "an AWS endpoint"),
        ("--event-name", "delete group", "an API operation"),
        ("--technique", "T9999", "not in the pack's ATT&CK excerpt"),
        ("--date", "10/12/2026", "not a date YYYY-MM-DD"),
        ("--id", "not-a-uuid", "not a UUID"),
        ("--title", "Two\nlines", "one line of text"),
        ("--title", "AWS IAM User Deleted", "is a rule of the pack already"),
    ],
)
def test_a_bad_value_is_a_one_line_usage_error_and_nothing_is_written(project, capsys, option, value, says):
    before = tree(project)
    argv = list(DELETE_GROUP) + [option, value]  # the last value given wins
    code, _, err = run(project, *argv, capsys=capsys)
    assert code == 2
    (error,) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert option in error and says in error
    assert tree(project) == before


def test_a_missing_value_off_a_terminal_is_a_usage_error(project, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = run(project, *DELETE_GROUP[2:], capsys=capsys)  # no --folder
    assert code == 2 and "missing --folder (new-rule asks for it on a terminal)" in err


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TEXT, TEXT)
@example('"quoted" \\ back', "O'Brien: #1")
@example("title: {{ x }} %{y} ${z}", "- dash")
@example("line\u2028separator\x85next", "tab\there")
@example("---", "...")
def test_the_title_and_author_read_back_exactly_whatever_they_hold(title, author):
    """A value can never break out of its YAML string: the skeleton reads back with the title and author given."""
    spec = new_rule.Spec("iam", "aws_iam_x", title, "iam.amazonaws.com", ("DeleteGroup",), "low", "T1531", author,
                         RULE_ID, "2026-12-10")  # fmt: skip
    doc = yaml.safe_load(new_rule.rule_text(spec))
    assert (doc["title"], doc["author"]) == (title, author)
    assert doc["detection"]["selection"] == {"eventSource": "iam.amazonaws.com", "eventName": "DeleteGroup"}


# --- the README's "Adding a rule", proved ----------------------------------------------------------------

#: The rule-level tests: the manifest against the reference engine, the rules' metadata, and every target's
#: shipped queries agreeing with the reference on every fixture record (CloudWatch Logs Insights and metric
#: filters, EventBridge, Splunk, Elastic, Athena and CloudTrail Lake, scan); the SCP coverage.
RULE_LEVEL_TESTS = (
    "tests/test_fixtures.py", "tests/test_rules.py", "tests/cloudwatch/test_agreement.py",
    "tests/cloudwatch/test_metric_filter.py", "tests/eventbridge/test_agreement.py",
    "tests/splunk/test_splunk_agreement.py", "tests/elastic/test_elastic_semantics.py",
    "tests/athena/test_agreement.py", "tests/test_scan.py",
    "tests/artifacts/test_mitigation_scps.py::test_every_detected_call_is_denied_by_a_shipped_scp_or_says_why_not",
)  # fmt: skip
#: A call a shipped SCP already denies, so that the rule needs nothing outside sigma/ and fixtures/.
SSH_KEY = [
    "--folder", "iam", "--name", "aws_iam_user_ssh_public_key_deleted", "--title", "AWS IAM User SSH Public Key Deleted",
    "--event-source", "iam.amazonaws.com", "--event-name", "DeleteSSHPublicKey", "--event-name", "UpdateSSHPublicKey",
    "--level", "low", "--id", "0f6d1c2e-8a4b-4c3d-9e5f-7a8b9c0d1e2f", "--date", "2026-12-10", "--author", "A. Author",
]  # fmt: skip


def fill(root: Path, out: str) -> None:
    """What a rule author writes where new-rule left TODO, done by a script: the description, the fields, the false
    positives, the records' request parameters, the look-alikes' calls, the files' descriptions, and the other
    fixture records the new rule matches."""
    rule = root / "sigma" / "iam" / "aws_iam_user_ssh_public_key_deleted.yml"
    text = rule.read_text(encoding="utf-8")
    text = re.sub(r"description: \|\n(    .*\n)+", "description: |\n    Detects an IAM user's SSH public key for CodeCommit "
                  "deleted or set inactive, successful or not. Removing the key locks its owner out of the repositories "
                  "it reaches over SSH, which disrupts the team's response.\n", text)
    text = re.sub(r"    # TODO.*\n", "    - requestParameters.userName\n", text)
    text = re.sub(r'    - "TODO.*"\n', "    - Key rotation by the user or an administrator.\n", text)
    rule.write_text(text, encoding="utf-8")
    for path in sorted((root / "fixtures" / "iam").glob("aws_iam_user_ssh_public_key_deleted.*")):
        records = json.loads(path.read_text())["Records"] if path.suffix == ".json" else [
            json.loads(line) for line in path.read_text().splitlines()]
        for r in records:
            r["requestParameters"] = {"userName": "dev-okafor", "sSHPublicKeyId": "APKAEIBAERJR2EXAMPLE"}
            if r["eventName"].startswith(new_rule.PLACEHOLDER):
                r["eventName"], r["readOnly"] = "ListSSHPublicKeys", True
            elif r["eventName"] == "UpdateSSHPublicKey":
                r["requestParameters"]["status"] = "Inactive"
        path.write_text(json.dumps({"Records": records}, indent=2) + "\n" if path.suffix == ".json" else
                        "".join(json.dumps(r) + "\n" for r in records))  # fmt: skip
    manifest = root / "fixtures" / "manifest.yml"
    text = manifest.read_text(encoding="utf-8").replace("TODO: what the file holds: ", "")
    text = re.sub(r"# TODO: the look-alike.*", "# ListSSHPublicKeys: read-only", text)
    for event_id, rule_id in re.findall(r"fixtures/manifest.yml:\d+: (\S+) of \S+: the new rule matches it: add (\S+)", out):
        text = re.sub(rf'("{event_id}": \[)([^\]]*)\]', lambda m: m.group(1) + ", ".join(filter(None, [m.group(2), rule_id])) + "]", text)
    manifest.write_text(text, encoding="utf-8")


def test_adding_a_rule_touches_sigma_fixtures_and_the_lock_and_the_rule_level_tests_pass(tmp_path, capsys):
    root = copy_project(tmp_path / "project", with_tests=True)
    before = tree(root)
    code, out, err = run(root, *SSH_KEY, capsys=capsys)
    assert (code, err) == (0, ""), out
    assert "no shipped SCP denies" not in out  # the SCP protecting IAM users denies both calls already
    fill(root, out)
    assert cli.main(["--root", str(root), "lock"]) == 0
    capsys.readouterr()
    changed = sorted(p for p in before.keys() | tree(root).keys() if before.get(p) != tree(root).get(p))
    assert changed and [p for p in changed if not p.startswith(AUTHORED)] == []
    assert "sigma/iam/aws_iam_user_ssh_public_key_deleted.yml" in changed and "version.lock.json" in changed
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", *RULE_LEVEL_TESTS],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout) and "skipped" not in done.stdout.splitlines()[-1]
    after = tree(root)
    assert sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)) == changed  # the tests wrote nothing
