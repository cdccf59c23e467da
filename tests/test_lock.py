"""version.lock.json: read against its schema (a version is a whole number from 1; a hash is SHA-256 hex; a key is
a rule id), every verb refusing a broken lock with the file, the rule and the key, and the recovery it advises
working when followed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import cli
from cloudtrail_pack.lock import LockEntry, read_lock
from cloudtrail_pack.pack import PackError

ROOT = Path(__file__).resolve().parents[1]
RULE_ID = "0b40a563-9611-430c-ac03-6536096733f9"  # AWS IAM User Deleted
GOOD = {"rule_name": "aws_iam_user_deleted", "version": 2, "sha256": "ab" * 32}


@pytest.fixture
def project(tmp_path):
    shutil.copytree(ROOT / "sigma", tmp_path / "sigma")
    for name in ("version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml"):
        shutil.copyfile(ROOT / name, tmp_path / name)
    return tmp_path


def set_version(lock_file: Path, value) -> None:
    lock = json.loads(lock_file.read_text())
    lock[RULE_ID]["version"] = value
    lock_file.write_text(json.dumps(lock, indent=2))


def test_a_version_that_is_not_a_number_stops_build_check_and_lock(project, capsys):
    """It used to be written into manifest.json as the rule's version ("version": "one")."""
    set_version(project / "version.lock.json", "one")
    before = (project / "version.lock.json").read_bytes()
    for verb in (["build", "--dist", str(project / "dist")], ["check"], ["lock"]):
        assert cli.main(["--root", str(project), *verb]) == 1, verb
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]  # not progress
        assert len(err) == 1, err
        assert f"version.lock.json: not a version lock: rule {RULE_ID}: Expected `int`, got `str` - at `$.version`" in err[0]
    assert not (project / "dist").exists()
    assert (project / "version.lock.json").read_bytes() == before


def test_the_recovery_a_broken_lock_advises_works(project, capsys, monkeypatch):
    """The advice used to be "rebuild it with lock", and `lock` failed on the same broken file."""
    monkeypatch.chdir(project)
    (project / "version.lock.json").write_text('{"x": ')
    assert cli.main(["lock"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: version.lock.json:1: invalid JSON (Expecting value); restore it from version control "
                          "(git checkout -- version.lock.json), or delete it and run `cloudtrail-pack lock`")
    (project / "version.lock.json").unlink()  # as the message says
    assert cli.main(["lock"]) == 0
    assert cli.main(["check"]) == 0
    assert {e.version for e in read_lock(project / "version.lock.json").values()} == {1}


def test_lock_rewrites_the_committed_lock_byte_for_byte(project):
    assert cli.main(["--root", str(project), "lock"]) == 0
    assert (project / "version.lock.json").read_bytes() == (ROOT / "version.lock.json").read_bytes()
    assert not [p.name for p in project.iterdir() if p.name.startswith(".version.lock.json")]  # no temporary left


# --- the class: any entry off the schema is refused, naming the rule and the key; any entry on it reads back ------------

#: JSON values of every type; each field below accepts only some of them.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


def fits(key: str, value) -> bool:
    if key == "version":
        return type(value) is int and value >= 1
    if key == "sha256":
        return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    return isinstance(value, str) and value != ""


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(GOOD)), value=JSON_VALUES)
@example(key="version", value="one")
@example(key="version", value=0)
@example(key="version", value=-1)
@example(key="version", value=True)
@example(key="version", value=1.0)
@example(key="version", value=None)
@example(key="sha256", value="AB" * 32)
@example(key="sha256", value="ab" * 31)
@example(key="rule_name", value="")
@example(key="version", value=3)
def test_an_entry_is_read_only_if_it_fits_the_schema(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("lock") / "version.lock.json"
    path.write_text(json.dumps({RULE_ID: {**GOOD, key: value}}))
    if fits(key, value):
        assert read_lock(path) == {RULE_ID: LockEntry(**{**GOOD, key: value})}
        return
    with pytest.raises(PackError) as raised:
        read_lock(path)
    assert raised.value.path.name == "version.lock.json"
    assert f"not a version lock: rule {RULE_ID}: " in raised.value.message and f"`$.{key}`" in raised.value.message


@pytest.mark.parametrize(
    "text, says",
    [
        ("[]", "not a version lock: expected an object of rule ids, got list"),
        ('{"AWS IAM User Deleted": {}}', "not a version lock: key 'AWS IAM User Deleted' is not a rule id (a lower-case UUID)"),
        (json.dumps({RULE_ID: {**GOOD, "extra": 1}}), f"rule {RULE_ID}: Object contains unknown field `extra`"),
        (json.dumps({RULE_ID: {"rule_name": "x", "version": 1}}), f"rule {RULE_ID}: Object missing required field `sha256`"),
        (f'{{"{RULE_ID}": {json.dumps(GOOD)}, "{RULE_ID}": {json.dumps(GOOD)}}}', f"rule id {RULE_ID} appear(s) twice"),
    ],
    ids=["list", "key", "extra-key", "missing-key", "duplicate-id"],
)
def test_a_lock_off_its_schema_is_refused_with_the_recovery(tmp_path, text, says):
    path = tmp_path / "version.lock.json"
    path.write_text(text)
    with pytest.raises(PackError) as raised:
        read_lock(path)
    assert says in raised.value.message and "or delete it and run `cloudtrail-pack lock`" in raised.value.message


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.uuids().map(str), st.builds(
    LockEntry, rule_name=st.text(min_size=1, max_size=20), version=st.integers(1, 2**40),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64)), max_size=5))
@example({})
@example({RULE_ID: LockEntry(**GOOD)})
def test_what_lock_writes_reads_back(tmp_path_factory, lock):
    from cloudtrail_pack.lock import write_lock

    path = tmp_path_factory.mktemp("lock") / "version.lock.json"
    write_lock(path, lock)
    assert read_lock(path) == lock
