"""build.py as a release pipeline: reproducible, atomic, and clear about what is wrong."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from cloudtrail_pack import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> int:
    """The command line as `python build.py ...` runs it: this repository as the project."""
    return cli.main(list(argv), root=ROOT)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "dist"
    assert run("build", "--dist", str(out)) == 0
    return out


@pytest.fixture
def rules_copy(tmp_path):
    folder = tmp_path / "sigma"
    shutil.copytree(ROOT / "sigma", folder)
    return folder


def test_two_builds_are_byte_identical(dist, tmp_path):
    again = tmp_path / "dist"
    assert run("build", "--dist", str(again)) == 0
    assert (again / "SHA256SUMS").read_bytes() == (dist / "SHA256SUMS").read_bytes()
    assert snapshot(again) == snapshot(dist)


#: The release's SHA256SUMS as recorded on purpose (issue 19: a reshape of the code must not change one byte), and
#: the sources it was built from, kept apart from sigma/ so that adding a rule leaves the record as it is.
RECORDED_SUMS = ROOT / "tests" / "data" / "release.SHA256SUMS"
RECORDED_SOURCES = ROOT / "tests" / "data" / "release_sources"
UPDATE_SUMS = (
    ".venv/bin/python build.py --root tests/data/release_sources build --dist /tmp/release && "
    "cp /tmp/release/SHA256SUMS tests/data/release.SHA256SUMS"
)


def test_the_release_is_byte_identical_to_the_recorded_one(tmp_path):
    """The recorded sources give the same bytes as the release recorded in tests/data: a change of the code that
    changes an artifact is a release change, made on purpose by updating the record."""
    out = tmp_path / "dist"
    assert cli.main(["build", "--dist", str(out)], root=RECORDED_SOURCES) == 0
    recorded = dict(line.split("  ", 1)[::-1] for line in RECORDED_SUMS.read_text(encoding="utf-8").splitlines())
    built = dict(line.split("  ", 1)[::-1] for line in (out / "SHA256SUMS").read_text(encoding="utf-8").splitlines())
    changed = sorted(p for p in recorded.keys() | built.keys() if recorded.get(p) != built.get(p))
    assert not changed, (
        f"the release of {RECORDED_SOURCES.relative_to(ROOT)} differs from {RECORDED_SUMS.relative_to(ROOT)} in "
        f"{', '.join(changed)}; if the change is intended (a dependency, an artifact's format), record it: {UPDATE_SUMS}"
    )


def test_sha256sums_covers_every_file(dist):
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in (dist / "SHA256SUMS").read_text().splitlines()}
    files = snapshot(dist)
    files.pop("SHA256SUMS")
    assert listed == files


def test_manifest_names_every_rule_with_version_and_hash(dist, pack):
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["version"] == cli_version()
    assert {r["id"] for r in manifest["rules"]} == {r.id for r in pack.rules}
    assert all(r["version"] >= 1 and len(r["sha256"]) == 64 for r in manifest["rules"])
    assert manifest["tools"]["pySigma"].startswith("1.5.")


def cli_version():
    from cloudtrail_pack.project import Project

    return Project.at(ROOT).version


def test_release_holds_the_rules_as_written(dist, pack):
    for r in pack.rules:
        assert (dist / r.path).read_bytes() == (ROOT / r.path).read_bytes()


def test_changelog_section_of_the_release_is_shipped(dist):
    assert (dist / "CHANGELOG.md").read_text().startswith(f"## {cli_version()}")


def test_broken_rule_fails_the_build_and_keeps_the_old_dist(dist, rules_copy, capsys, tmp_path):
    out = tmp_path / "dist"
    shutil.copytree(dist, out)
    before = snapshot(out)
    target = rules_copy / "organizations" / "aws_organizations_leave_organization.yml"
    target.write_text(target.read_text().replace("condition: selection", "condition: [selection"))
    assert run("--rules-dir", str(rules_copy), "build", "--dist", str(out)) == 1
    err = capsys.readouterr().err
    assert "sigma/organizations/aws_organizations_leave_organization.yml:" in err and "YAML" in err
    assert snapshot(out) == before


def test_unmapped_field_fails_the_build_naming_the_field(dist, rules_copy, capsys, tmp_path):
    out = tmp_path / "dist"
    shutil.copytree(dist, out)
    before = snapshot(out)
    target = rules_copy / "organizations" / "aws_organizations_leave_organization.yml"
    target.write_text(target.read_text().replace("eventName: LeaveOrganization", "eventName: LeaveOrganization\n        src_country: RU"))
    assert run("--rules-dir", str(rules_copy), "build", "--dist", str(out)) == 1
    err = capsys.readouterr().err
    assert "aws_organizations_leave_organization.yml" in err and "src_country" in err
    assert snapshot(out) == before


def test_logic_change_without_version_bump_fails_naming_the_rule(rules_copy, capsys, tmp_path):
    target = rules_copy / "iam" / "aws_iam_user_mfa_deactivated.yml"
    target.write_text(target.read_text().replace("eventName: DeactivateMFADevice", "eventName: DeleteVirtualMFADevice"))
    assert run("--rules-dir", str(rules_copy), "build", "--dist", str(tmp_path / "dist")) == 1
    err = capsys.readouterr().err
    assert "AWS IAM User MFA Device Deactivated" in err and "build.py lock" in err
    assert not (tmp_path / "dist").exists()


def test_a_deleted_rule_still_in_the_lock_fails_the_build(rules_copy, capsys, tmp_path):
    (rules_copy / "organizations" / "aws_organizations_account_removed.yml").unlink()
    assert run("--rules-dir", str(rules_copy), "build", "--dist", str(tmp_path / "dist")) == 1
    err = capsys.readouterr().err
    assert "version.lock.json: locked rule(s) missing from" in err
    assert "aws_organizations_account_removed (f854fcee-6133-4608-a0f4-86197d621473)" in err and "build.py lock" in err
    assert not (tmp_path / "dist").exists()


def test_lock_retires_a_deleted_rule_on_purpose(rules_copy, tmp_path):
    from cloudtrail_pack import lock
    from cloudtrail_pack.pack import load_pack

    lock_file = tmp_path / "version.lock.json"
    shutil.copyfile(ROOT / "version.lock.json", lock_file)
    (rules_copy / "organizations" / "aws_organizations_account_removed.yml").unlink()
    assert lock.update_lock(load_pack(rules_copy), lock_file) == ["aws_organizations_account_removed: retired (was version 1)"]
    assert "f854fcee-6133-4608-a0f4-86197d621473" not in json.loads(lock_file.read_text())


def test_metadata_change_needs_no_version_bump(rules_copy, capsys):
    target = rules_copy / "iam" / "aws_iam_user_mfa_deactivated.yml"
    target.write_text(target.read_text().replace("level: medium", "level: high"))
    assert run("--rules-dir", str(rules_copy), "check") == 0


def test_lock_bumps_the_version_of_a_changed_rule(rules_copy, tmp_path, monkeypatch):
    from cloudtrail_pack import lock
    from cloudtrail_pack.pack import load_pack

    lock_file = tmp_path / "version.lock.json"
    shutil.copyfile(ROOT / "version.lock.json", lock_file)
    target = rules_copy / "iam" / "aws_iam_user_mfa_deactivated.yml"
    before = lock.locked_versions(load_pack(rules_copy), lock_file)["547ae2af-3af7-419c-96c5-6b20daf00fef"]
    target.write_text(target.read_text().replace("eventName: DeactivateMFADevice", "eventName: DeleteVirtualMFADevice"))
    changes = lock.update_lock(load_pack(rules_copy), lock_file)
    assert changes == [f"AWS IAM User MFA Device Deactivated: version {before} -> {before + 1}"]
    assert lock.locked_versions(load_pack(rules_copy), lock_file)["547ae2af-3af7-419c-96c5-6b20daf00fef"] == before + 1


def test_the_committed_lock_matches_the_rules(pack):
    from cloudtrail_pack.lock import locked_versions

    assert set(locked_versions(pack)) == {r.id for r in pack.rules}


def test_help_lists_the_subcommands(capsys):
    assert run("--help") == 0
    out = capsys.readouterr().out
    for command in ("build", "check", "lock", "convert"):
        assert command in out


def test_release_does_not_depend_on_the_checkout_location(dist):
    """Byte-identical builds from any clone: no absolute path of this checkout in any artifact."""
    import tarfile

    for path in dist.rglob("*"):
        if path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        assert str(ROOT).encode() not in tar.extractfile(member).read(), (path, member.name)
        elif path.is_file():
            assert str(ROOT) not in path.read_text(encoding="utf-8", errors="replace"), path


def test_a_build_converts_each_rule_once_per_target_and_format(tmp_path, monkeypatch):
    """One conversion per rule, target and output format: the rules x the targets, plus the CloudWatch metric
    filter format and the EventBridge state machine format; the writers, the build table and the manifest all read those results. A correlation is not
    converted where a rule it counts is refused (compilation records that refusal instead)."""
    from cloudtrail_pack.compilation import Refusal, compile_pack
    from cloudtrail_pack.pack import load_pack
    from cloudtrail_pack.registry import TARGETS, WRITERS
    from cloudtrail_pack.release import build
    from cloudtrail_pack.release.writer import formats
    from cloudtrail_pack.targets import plugins

    release_formats = formats(TARGETS, WRITERS)
    compiled = compile_pack(load_pack(ROOT / "sigma"), release_formats)
    skipped = [k for k, r in compiled.results.items() if isinstance(r, Refusal) and r.reason.startswith("a rule it counts is not available")]
    calls: list[tuple[str, str]] = []
    for backend_class in {plugins().backends[t.backend] for t in TARGETS.values()}:
        for name in ("convert_rule", "convert_correlation_rule"):
            real = getattr(backend_class, name)

            def counting(self, rule, *args, _real=real, **kwargs):
                calls.append((type(self).__name__, str(rule.id)))
                return _real(self, rule, *args, **kwargs)

            monkeypatch.setattr(backend_class, name, counting)
    pack = load_pack(ROOT / "sigma")
    build(pack, tmp_path / "dist", log=lambda _: None, targets=TARGETS, writers=WRITERS)
    assert len(release_formats) == len(TARGETS) + 2  # + CloudWatch metric filters, EventBridge state machines
    assert len(calls) == len(pack.rules) * len(release_formats) - len(skipped)
    converted = {(rule_id, target) for rule_id, target, f in compiled.results if (rule_id, target, f) not in skipped}
    assert len(set(calls)) == len(converted)  # the metric filter format reuses the CloudWatch backend


def _project_copy(folder: Path) -> Path:
    for name in ("sigma",):
        shutil.copytree(ROOT / name, folder / name)
    for name in ("version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml"):
        shutil.copyfile(ROOT / name, folder / name)
    return folder


def test_another_checkout_path_and_working_directory_build_the_same_bytes(dist, tmp_path, monkeypatch):
    """The pack has refused rules (EQL, ES|QL, Lucene): their reasons name no path of where the build ran."""
    copy = _project_copy(tmp_path / "elsewhere" / "checkout")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["--root", str(copy), "build", "--dist", "out"]) == 0
    out = elsewhere / "out"
    assert (out / "SHA256SUMS").read_bytes() == (dist / "SHA256SUMS").read_bytes()
    for path in out.rglob("*"):
        if path.is_file() and not path.name.endswith((".gz", ".tgz")):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert str(tmp_path) not in text and str(ROOT) not in text, path


def test_the_release_folder_is_as_readable_as_any_other(dist):
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(dist.stat().st_mode) == 0o777 & ~mask


def test_concurrent_builds_never_leave_dist_missing_or_half_written(dist, tmp_path):
    """Two builds of one dist/ at once, and a reader looking at it the whole time: both builds succeed (they
    take turns on the build lock) and the reader always finds a complete release."""
    import subprocess
    import threading

    out = tmp_path / "dist"
    shutil.copytree(dist, out)
    command = [str(Path(sys.executable).parent / "cloudtrail-pack"), "--root", str(ROOT), "build", "--dist", str(out)]
    seen_missing = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                sums = (out / "SHA256SUMS").read_text()
                assert "manifest.json" in sums
            except (OSError, AssertionError) as e:
                seen_missing.append(repr(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        builds = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        results = [(b.wait(timeout=300), b.stderr.read().decode()) for b in builds]
    finally:
        stop.set()
        reader.join()
    assert [code for code, _ in results] == [0, 0], results
    assert seen_missing == []
    assert (out / "SHA256SUMS").read_bytes() == (dist / "SHA256SUMS").read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".dist-")]


#: Sources a build refuses, each for a different step: a writer's own refusal (Splunk ES reads `$` as a token,
#: an EventBridge input template reads `<...>` as a placeholder), the changelog, a compilation, the version lock.
#: `check` used to pass the first three.
REFUSED = {
    "dollar-in-title": ("organizations/aws_organizations_leave_organization.yml",
                        "title: AWS Account Left the Organization", "title: AWS Account Left the Organization $Home"),
    "jsonata-delimiters-in-title": ("organizations/aws_organizations_leave_organization.yml",
                                    "title: AWS Account Left the Organization", "title: AWS Account Left the Organization {% Root %}"),
    "no-changelog-section": ("../pyproject.toml", 'version = "', 'version = "9.9.'),
    "unmapped-field": ("organizations/aws_organizations_leave_organization.yml",
                       "eventName: LeaveOrganization", "eventName: LeaveOrganization\n        src_country: RU"),
    "logic-changed-without-lock": ("iam/aws_iam_user_mfa_deactivated.yml", "eventName: DeactivateMFADevice", "eventName: DeleteVirtualMFADevice"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_refuses_what_build_refuses_with_the_same_error(tmp_path, monkeypatch, capsys, case):
    project = _project_copy(tmp_path / "p")
    name, old, new = REFUSED[case]
    target = project / "sigma" / name
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new, 1))
    monkeypatch.chdir(project)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where check renders the release
    verdicts = {}
    for verb in (["check"], ["build", "--dist", "out"]):
        code = cli.main(["--root", str(project), *verb])
        verdicts[verb[0]] = (code, [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")])
    assert verdicts["check"] == verdicts["build"] and verdicts["build"][0] == 1 and len(verdicts["build"][1]) == 1, verdicts
    assert not (project / "out").exists() and os.listdir(scratch) == []


def test_check_renders_the_release_and_deletes_it(tmp_path, monkeypatch, capsys):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rendered = []
    real = shutil.rmtree

    def watching(path, *args, **kwargs):
        rendered.append(sorted(p.relative_to(path).as_posix() for p in Path(path).rglob("*") if p.is_file()))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", watching)
    assert run("check") == 0
    assert os.listdir(scratch) == []
    assert len(rendered) == 1 and "SHA256SUMS" in rendered[0] and "manifest.json" in rendered[0] and len(rendered[0]) > 100
