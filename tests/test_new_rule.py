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

import rule_facts as facts
from fixture_corpus import FIXTURE_FILES

from cloudtrail_pack import cli
from cloudtrail_pack.artifacts import mitigations
from cloudtrail_pack.cli import new_rule
from cloudtrail_pack.pack import load_pack

ROOT = Path(__file__).resolve().parents[1]
#: What a rule author's change may touch, and what the scaffold test copies (tests/ for the rule-level tests).
SOURCES = ("sigma", "fixtures", "version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml")
AUTHORED = ("sigma/", "fixtures/", "version.lock.json")
PACK = load_pack()
RULE_ID = "d9b5c3a1-7e2f-4b8d-9c6a-1f0e2d3c4b5a"  # not the README example's id, which a reader may copy


def undetected_call() -> tuple[str, str]:
    """The first call the fixtures hold that no rule of the pack matches: the example rule matches it, so the
    scaffolder must name those records (whatever rules the pack has by then)."""
    detected = set().union(*(facts.event_calls(r.rule) for r in PACK.rules))
    calls = sorted({(r["eventSource"], r["eventName"]) for f in FIXTURE_FILES for r in f.records} - detected)
    return next(c for c in calls if re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com", c[0]) and re.fullmatch(r"[A-Z]\w*", c[1]))


SOURCE, CALL = undetected_call()
NAME = "aws_iam_scaffold_example"
EXAMPLE = [
    "--folder", "iam", "--name", NAME, "--title", "AWS IAM Scaffold Example", "--event-source", SOURCE,
    "--event-name", CALL, "--level", "low", "--technique", "T1531", "--id", RULE_ID, "--date", "2026-12-10",
    "--author", "CloudTrail Detection Pack",
]  # fmt: skip
WRITTEN = (f"sigma/iam/{NAME}.yml", f"fixtures/iam/{NAME}.json", f"fixtures/iam/{NAME}.jsonl", "fixtures/manifest.yml")


def without(argv: list[str], option: str) -> list[str]:
    i = argv.index(option)
    return argv[:i] + argv[i + 2:]


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
    from cloudtrail_pack.project import Project
    from cloudtrail_pack.validation import findings

    before = (project / "fixtures" / "manifest.yml").read_text(encoding="utf-8")
    code, out, err = run(project, *EXAMPLE, capsys=capsys)
    assert (code, err) == (0, "")
    pack = load_pack(project / "sigma", Project.at(project))
    rule = pack.by_id(RULE_ID)
    assert (rule.title, rule.level, str(rule.path)) == ("AWS IAM Scaffold Example", "low", f"sigma/iam/{NAME}.yml")
    assert {str(t) for t in rule.rule.tags} == {"attack.impact", "attack.t1531"}  # the technique under its tactic
    assert facts.event_calls(rule.rule) == {(SOURCE, CALL)}
    assert findings(pack) == []
    after = (project / "fixtures" / "manifest.yml").read_text(encoding="utf-8")
    old, new = before.splitlines(), after.splitlines()
    edits = [(op, i1, j1, j2) for op, i1, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes() if op != "equal"]
    (op, at, j1, j2), (op2, end, k1, k2) = edits  # two insertions, nothing changed or removed
    assert (op, op2, end, k2) == ("insert", "insert", len(old), len(new))
    assert new[j1:j2] == [f"#   {RULE_ID}  AWS IAM Scaffold Example"]  # after the last of the manifest's list of rules
    assert re.match(r"#   [0-9a-f-]{36}  ", old[at - 1]) and not re.match(r"#   [0-9a-f-]{36}  ", old[at])
    assert new[k1].startswith(f"  iam/{NAME}.json:")  # the entries at the end
    files = yaml.safe_load(after)["files"]
    assert (files[f"iam/{NAME}.json"]["format"], files[f"iam/{NAME}.jsonl"]["format"]) == ("s3", "jsonl")
    expect = [v for f in ("json", "jsonl") for v in files[f"iam/{NAME}.{f}"]["expect"].values()]
    assert sorted(map(tuple, expect)) == [(), (), (RULE_ID,), (RULE_ID,)]  # an attack and a look-alike in each


def test_what_is_left_to_fill_is_named_by_file_and_line(project, capsys, monkeypatch):
    """Every line of the written files holding the placeholder is listed, once, by file and line (relative to the
    working directory), and nothing else is listed as left to fill."""
    monkeypatch.chdir(project)
    code, out, _ = run(project, *EXAMPLE, capsys=capsys)
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
    """The example's call is in the corpus, unmatched so far: each of those records is named with its manifest line.
    A call no shipped SCP denies and not-preventable.yml does not list is named with where to add it."""
    code, out, _ = run(project, *EXAMPLE, capsys=capsys)
    assert code == 0
    lines = (project / "fixtures" / "manifest.yml").read_text().splitlines()
    named = {}
    for line in out.splitlines():
        if "the new rule matches it" in line:
            m = re.match(r"  fixtures/manifest.yml:(\d+): (\S+) of (\S+): the new rule matches it: add (\S+) to its list", line)
            assert m and m.group(2) in lines[int(m.group(1)) - 1] and m.group(4) == RULE_ID, line
            named[m.group(2)] = m.group(3)
    assert named == {
        str(r["eventID"]): str(f.path) for f in FIXTURE_FILES for r in f.records if (r["eventSource"], r["eventName"]) == (SOURCE, CALL)
    }
    action = f"{SOURCE.split('.')[0]}:{CALL}"
    denied = set().union(*(mitigations.denied_actions(p) for p in mitigations.load_policies().values()))
    listed = {a.lower() for a in yaml.safe_load(new_rule.NOT_PREVENTABLE.read_text())}
    said = f"no shipped SCP denies {action}: add it to a statement of an scp-*.json" in out
    assert said == (action.lower() not in denied | listed)


def test_the_technique_defaults_to_the_one_the_folders_rules_share(project, capsys):
    techniques = {str(t).upper() for r in PACK.rules if r.path.parts[1] == "organizations" for t in r.rule.tags
                  if re.fullmatch(r"attack\.t\d{4}", str(t))}  # fmt: skip
    code, _, err = run(project, *without(without(EXAMPLE, "--technique"), "--folder"), "--folder", "organizations", capsys=capsys)
    if len(techniques) == 1:
        (technique,) = techniques
        rule = load_pack(project / "sigma").by_id(RULE_ID)
        assert code == 0 and technique.lower() in {str(t) for t in rule.rule.tags}
    else:
        assert code == 2 and "missing --technique" in err


def test_given_an_id_and_a_date_the_output_is_the_same_every_time(tmp_path, capsys):
    written = []
    for name in ("a", "b"):
        root = copy_project(tmp_path / name)
        assert run(root, *EXAMPLE, capsys=capsys)[0] == 0
        written.append({p: (root / p).read_bytes() for p in WRITTEN})
    assert written[0] == written[1]


def test_nothing_is_overwritten(project, capsys):
    before = tree(project)
    (project / "fixtures" / "iam" / f"{NAME}.jsonl").write_text("mine\n")
    code, _, err = run(project, *EXAMPLE, capsys=capsys)
    assert code == 2 and f"{NAME}.jsonl exists (new-rule never overwrites)" in err
    assert tree(project) == {**before, f"fixtures/iam/{NAME}.jsonl": b"mine\n"}
    (project / "fixtures" / "iam" / f"{NAME}.jsonl").unlink()
    assert run(project, *EXAMPLE, capsys=capsys)[0] == 0
    again = tree(project)
    other = without(without(EXAMPLE, "--id"), "--title") + ["--id", "6a7b8c9d-0000-4000-8000-000000000001", "--title", "Other"]
    code, _, err = run(project, *other, capsys=capsys)
    assert code == 2 and f"'{NAME}' is a rule of the pack already" in err
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
        ("--title", PACK.rules[0].title, "is a rule of the pack already"),
    ],
)
def test_a_bad_value_is_a_one_line_usage_error_and_nothing_is_written(project, capsys, option, value, says):
    before = tree(project)
    argv = list(EXAMPLE) + [option, value]  # the last value given wins
    code, _, err = run(project, *argv, capsys=capsys)
    assert code == 2
    (error,) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert option in error and says in error
    assert tree(project) == before


def test_a_missing_value_off_a_terminal_is_a_usage_error(project, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = run(project, *EXAMPLE[2:], capsys=capsys)  # no --folder
    assert code == 2 and "missing --folder (new-rule asks for it on a terminal)" in err


def test_on_a_terminal_it_asks_for_what_is_missing(project, monkeypatch):
    """Like detection-rules' create-rule: each missing value is asked for (the level offered as a default; in a new
    folder, whose rules name no technique yet, the technique too)."""
    from click.testing import CliRunner

    monkeypatch.setattr(new_rule, "_on_a_terminal", lambda: True)
    monkeypatch.setattr(new_rule, "_git_author", lambda root: None)  # else `git config user.name` is the default
    answers = ["scaffold", NAME, "AWS IAM Scaffold Example", SOURCE, f"{CALL}, {CALL}", "", "t1531", "Someone"]
    result = CliRunner().invoke(cli.cli, ["--root", str(project), "new-rule", "--id", RULE_ID], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Technique folder under sigma/" in result.output and re.search(r"Level \(.*\) \[medium\]:", result.output)
    rule = load_pack(project / "sigma").by_id(RULE_ID)
    assert (rule.level, rule.rule.author, str(rule.path)) == ("medium", "Someone", f"sigma/scaffold/{NAME}.yml")
    assert facts.event_calls(rule.rule) == {(SOURCE, CALL)} and "attack.t1531" in {str(t) for t in rule.rule.tags}


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TEXT, TEXT)
@example('"quoted" \\ back', "O'Brien: #1")
@example("title: {{ x }} %{y} ${z}", "- dash")
@example("line\u2028separator\x85next", "tab\there")
@example("---", "...")
def test_the_title_and_author_read_back_exactly_whatever_they_hold(title, author):
    """A value can never break out of its YAML string: the skeleton reads back with the title and author given."""
    spec = new_rule.Spec("iam", NAME, title, "iam.amazonaws.com", ("DeleteGroup", "DeleteGroupPolicy"), "low", "T1531",
                         author, RULE_ID, "2026-12-10")  # fmt: skip
    doc = yaml.safe_load(new_rule.rule_text(spec))
    assert (doc["title"], doc["author"]) == (title, author)
    assert doc["detection"]["selection"] == {"eventSource": "iam.amazonaws.com", "eventName": ["DeleteGroup", "DeleteGroupPolicy"]}


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


def scp_denied_undetected_iam_call() -> str:
    """An IAM call a shipped SCP denies that no rule of the pack detects: a rule for it needs nothing outside
    sigma/, fixtures/ and the lock (whatever rules the pack has by then)."""
    detected = {name for r in PACK.rules for source, name in facts.event_calls(r.rule) if source == "iam.amazonaws.com"}
    actions = [a for p in mitigations.load_policies().values() for st in p["Statement"]
               for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]  # fmt: skip
    return next(a.split(":")[1] for a in sorted(actions) if a.startswith("iam:") and "*" not in a and a.split(":")[1] not in detected)


SCAFFOLDED = scp_denied_undetected_iam_call()
SCAFFOLDED_NAME = "aws_iam_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", SCAFFOLDED).lower() + "_scaffolded"
SCAFFOLD = [
    "--folder", "iam", "--name", SCAFFOLDED_NAME, "--title", f"AWS IAM {SCAFFOLDED} Scaffolded",
    "--event-source", "iam.amazonaws.com", "--event-name", SCAFFOLDED, "--level", "low", "--technique", "T1531",
    "--id", "0f6d1c2e-8a4b-4c3d-9e5f-7a8b9c0d1e2f", "--date", "2026-12-10", "--author", "A. Author",
]  # fmt: skip


def fill(root: Path, out: str) -> None:
    """What a rule author writes where new-rule left TODO, done by a script: the description, the fields, the false
    positives, the records' request parameters, the look-alikes' calls, the files' descriptions, and the other
    fixture records the new rule matches."""
    rule = root / "sigma" / "iam" / f"{SCAFFOLDED_NAME}.yml"
    text = rule.read_text(encoding="utf-8")
    text = re.sub(r"description: \|\n(    .*\n)+", f"description: |\n    Detects {SCAFFOLDED} on an IAM user, successful or "
                  "not. Taking a credential away from its owner locks them out of what it reaches, which slows the "
                  "response to an intrusion.\n", text)
    text = re.sub(r"    # TODO.*\n", "    - requestParameters.userName\n", text)
    text = re.sub(r'    - "TODO.*"\n', "    - Key rotation by the user or an administrator.\n", text)
    rule.write_text(text, encoding="utf-8")
    for path in sorted((root / "fixtures" / "iam").glob(f"{SCAFFOLDED_NAME}.*")):
        records = json.loads(path.read_text())["Records"] if path.suffix == ".json" else [
            json.loads(line) for line in path.read_text().splitlines()]
        for r in records:
            r["requestParameters"] = {"userName": "dev-okafor"}
            if r["eventName"].startswith(new_rule.PLACEHOLDER):
                r["eventName"], r["readOnly"] = "ListUsers", True
        path.write_text(json.dumps({"Records": records}, indent=2) + "\n" if path.suffix == ".json" else
                        "".join(json.dumps(r) + "\n" for r in records))  # fmt: skip
    manifest = root / "fixtures" / "manifest.yml"
    text = manifest.read_text(encoding="utf-8").replace("TODO: what the file holds: ", "")
    text = re.sub(r"# TODO: the look-alike.*", "# ListUsers: read-only", text)
    for event_id, rule_id in re.findall(r"fixtures/manifest.yml:\d+: (\S+) of \S+: the new rule matches it: add (\S+)", out):
        text = re.sub(rf'("{event_id}": \[)([^\]]*)\]', lambda m: m.group(1) + ", ".join(filter(None, [m.group(2), rule_id])) + "]", text)
    manifest.write_text(text, encoding="utf-8")


def test_adding_a_rule_touches_sigma_fixtures_and_the_lock_and_the_rule_level_tests_pass(tmp_path, capsys):
    root = copy_project(tmp_path / "project", with_tests=True)
    before = tree(root)
    code, out, err = run(root, *SCAFFOLD, capsys=capsys)
    assert (code, err) == (0, ""), out
    assert "no shipped SCP denies" not in out  # a shipped SCP denies the call already
    fill(root, out)
    assert cli.main(["--root", str(root), "lock"]) == 0
    capsys.readouterr()
    changed = sorted(p for p in before.keys() | tree(root).keys() if before.get(p) != tree(root).get(p))
    assert changed and [p for p in changed if not p.startswith(AUTHORED)] == []
    assert f"sigma/iam/{SCAFFOLDED_NAME}.yml" in changed and "version.lock.json" in changed
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", *RULE_LEVEL_TESTS],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout) and "skipped" not in done.stdout.splitlines()[-1]
    after = tree(root)
    assert sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)) == changed  # the tests wrote nothing
