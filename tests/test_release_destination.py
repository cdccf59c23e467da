"""Where `build --dist DIR` may put a release, and what a build leaves when it cannot: it replaces only a new or
empty folder or a previous release, refuses anything else before it makes anything, and a full disk is one
line, with the previous release kept and no staging folder or lock file behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack import cli

ROOT = Path(__file__).resolve().parents[1]
NOT_A_RELEASE = "not a release built by cloudtrail-pack"


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """What a build may leave beside a release folder and must not: staging folders and lock files."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".dist-") or p.name.endswith(".lock"))


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("[")]  # not the progress lines


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "dist"
    assert cli.main(["build", "--dist", str(out)], root=ROOT) == 0
    return out


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "sigma", folder / "sigma")
    for name in ("version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml"):
        shutil.copyfile(ROOT / name, folder / name)
    return folder


def test_a_folder_that_is_not_a_release_is_refused_and_kept(tmp_path, capsys):
    """It used to be deleted, exit 0."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    assert cli.main(["build", "--dist", str(victim)], root=ROOT) == 1
    assert errors(capsys.readouterr().err) == [
        f"error: {victim}: {NOT_A_RELEASE} (no manifest.json); choose an empty or new folder"]
    assert snapshot(victim) == {"data.txt": hashlib.sha256(b"precious").hexdigest()}
    assert leftovers(tmp_path) == []


def test_a_release_holding_a_file_the_build_did_not_write_is_refused(release, tmp_path, capsys):
    out = tmp_path / "dist"
    shutil.copytree(release, out)
    (out / "splunk" / "my-notes.txt").write_text("mine")
    before = snapshot(out)
    assert cli.main(["build", "--dist", str(out)], root=ROOT) == 1
    assert errors(capsys.readouterr().err) == [
        f"error: {out}: {NOT_A_RELEASE}: it holds splunk/my-notes.txt, which its SHA256SUMS does not list; "
        "choose an empty or new folder, or move splunk/my-notes.txt out"]
    assert snapshot(out) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("state", ["previous", "partly-deleted", "empty", "missing", "missing-parents"])
def test_a_new_or_empty_folder_or_a_previous_release_is_replaced(release, tmp_path, state, capsys):
    out = tmp_path / "a" / "b" / "dist" if state == "missing-parents" else tmp_path / "dist"
    if state in ("previous", "partly-deleted"):
        shutil.copytree(release, out)
        (out / "CHANGELOG.md").write_text("an older release")
    if state == "partly-deleted":
        shutil.rmtree(out / "splunk")
        next((out / "archives").glob("cloudtrail-detection-pack-*[0-9].tar.gz")).unlink()  # the whole pack's archive
    if state == "empty":
        out.mkdir()
    assert cli.main(["build", "--dist", str(out)], root=ROOT) == 0, capsys.readouterr().err
    assert snapshot(out) == snapshot(release)
    assert leftovers(out.parent) == []  # the build lock is gone with the build


def test_the_project_dist_folder_is_rebuilt(project, capsys):
    for _ in range(2):  # new, then a previous release
        assert cli.main(["--root", str(project), "build"]) == 0, capsys.readouterr().err
    assert (project / "dist" / "manifest.json").is_file() and leftovers(project) == []


def places(tmp_path: Path, project: Path) -> dict[str, tuple[str, str]]:
    """--dist values that name no place for a release: (value, the error's text after the value)."""
    (tmp_path / "afile").write_text("x")
    found = {
        "root": ("/", "the root of the file system cannot be a release folder; choose an empty or new folder"),
        "cwd": (".", "holds the working directory, which a build would replace; choose an empty or new folder"),
        "parent": ("..", "holds the working directory, which a build would replace; choose an empty or new folder"),
        "under-a-file": ("afile/dist", "under afile, which is a file, not a folder; choose an empty or new folder"),
        "project": ("project", "holds the rules folder project/sigma, which a build would replace; choose an empty or new folder"),
        "in-rules": ("project/sigma/out", "inside the rules folder project/sigma, where the released rules would be read as rules; "
                     "choose an empty or new folder outside it"),
    }
    if os.path.isdir("/sys/kernel"):
        found["sysfs"] = ("/sys/kernel/dist", "cannot write the release (")
    return found


@pytest.mark.parametrize("case", ["root", "cwd", "parent", "under-a-file", "project", "in-rules", "sysfs"])
def test_no_place_for_a_release_is_a_clear_error_leaving_nothing(tmp_path, project, monkeypatch, capsys, case):
    """`--dist /`, `.`, a path under /sys or under a file used to print tracebacks and leave a lock file."""
    cases = places(tmp_path, project)
    if case not in cases:
        pytest.skip("no /sys here")
    value, says = cases[case]
    workdir = tmp_path / "work" if case in ("cwd", "parent") else tmp_path
    workdir.mkdir(exist_ok=True)
    monkeypatch.chdir(workdir)
    watched = {Path("/"), tmp_path, workdir, project, Path("/sys/kernel")}
    before = {folder: sorted(os.listdir(folder)) for folder in watched if folder.is_dir()}
    code = cli.main(["--root", str(project), "build", "--dist", value])
    lines = errors(capsys.readouterr().err)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {value}: {says}"), lines
    assert {folder: sorted(os.listdir(folder)) for folder in before} == before


# --- the class: what counts as a previous release ----------------------------------------------------------------------

CHANGES = st.lists(
    st.sampled_from(["delete-listed", "add-unlisted", "link-listed", "fifo-unlisted", "empty-folder", "no-manifest",
                     "no-sums", "other-pack", "hidden-unlisted"]),
    max_size=3, unique=True,
)


def apply(out: Path, change: str, written: list[str]) -> bool:
    """Change a copy of a release (`written`: the files its SHA256SUMS lists, as the build wrote them); True if it
    still is one the build may replace. Only files the build wrote are deleted or replaced: a file another change
    added (a hidden one sorts first) is never what `delete-listed` deletes."""
    listed = [out / p for p in written]
    if change == "delete-listed":
        listed[0].unlink()
    elif change == "add-unlisted":
        (out / "athena" / "mine.sql").parent.mkdir(exist_ok=True)
        (out / "athena" / "mine.sql").write_text("select 1")
        return False
    elif change == "hidden-unlisted":
        (out / ".DS_Store").write_bytes(b"")
        return False
    elif change == "link-listed":
        listed[-1].unlink()
        listed[-1].symlink_to(ROOT / "README.md")
        return False
    elif change == "fifo-unlisted":
        os.mkfifo(out / "pipe")
        return False
    elif change == "empty-folder":
        (out / "empty").mkdir(exist_ok=True)
    elif change == "no-manifest":
        (out / "manifest.json").unlink(missing_ok=True)
        return False
    elif change == "no-sums":
        (out / "SHA256SUMS").unlink(missing_ok=True)
        return False
    elif change == "other-pack" and (out / "manifest.json").exists():
        (out / "manifest.json").write_text('{"pack": "another-pack"}')
        return False
    return True


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES)
@example(changes=[])
@example(changes=["delete-listed", "empty-folder"])
@example(changes=["add-unlisted"])
@example(changes=["hidden-unlisted"])
@example(changes=["link-listed"])
@example(changes=["fifo-unlisted"])
@example(changes=["no-manifest"])
@example(changes=["other-pack"])
@example(changes=["hidden-unlisted", "delete-listed"])  # the deletion must not remove the file the first change added
def test_only_a_release_whose_every_file_the_build_wrote_is_replaceable(release, tmp_path_factory, changes):
    out = tmp_path_factory.mktemp("copy") / "dist"
    shutil.copytree(release, out)
    from cloudtrail_pack.release import destination

    sums = (release / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    written = sorted(p for p in (line.split("  ", 1)[1] for line in sums) if p != "manifest.json")
    replaceable = all([apply(out, change, written) for change in changes])
    problem = destination.release_problem(out)
    assert (problem is None) == replaceable, (changes, problem)
    if problem is not None:
        assert problem.startswith(NOT_A_RELEASE) and problem.endswith(("choose an empty or new folder", "out"))


# --- a full disk --------------------------------------------------------------------------------------------------------

#: A build in its own process whose files may grow to at most N bytes (RLIMIT_FSIZE: writing past it fails with
#: EFBIG, "File too large", as a full disk fails with ENOSPC). pySigma's data cache is written first, unlimited,
#: so that what fails is the release.
FULL_DISK = """
import resource, sys
from cloudtrail_pack.cli.main import main
from cloudtrail_pack.cli.options import project_pack
from cloudtrail_pack.project import Project
from cloudtrail_pack.validation import findings
limit, warm, argv = int(sys.argv[1]), sys.argv[2] == "warm", sys.argv[3:]
if warm:
    findings(project_pack(Project.at(argv[1])))
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
sys.exit(main(argv))
"""


def full_disk_build(limit: int, project: Path, dist: str, warm: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """pySigma's data caches go to a temporary folder of this build's own: another process sharing the default
    one may clear them (`attack.use_local_attack_data`) while this one runs, which would make it rewrite them
    under the limit."""
    private = project.parent / ".tmp"
    private.mkdir(exist_ok=True)
    env = {"TMPDIR": str(private), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(limit), "warm" if warm else "cold", "--root", str(project), "build", "--dist", dist],
        cwd=project.parent, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )


def test_a_full_disk_is_one_line_and_keeps_the_previous_release(release, project):
    """It used to print an OSError traceback."""
    shutil.copytree(release, project.parent / "rel")
    before = snapshot(project.parent / "rel")
    done = full_disk_build(64 * 1024, project, "rel")
    assert (done.returncode, errors(done.stderr)) == (1, ["error: rel: cannot write the release (File too large); the previous release is kept"])
    assert snapshot(project.parent / "rel") == before
    assert leftovers(project.parent) == []


def test_a_full_disk_leaves_no_folder_it_made(project):
    done = full_disk_build(64 * 1024, project, "new/deeper/rel")
    assert (done.returncode, errors(done.stderr)) == (1, ["error: new/deeper/rel: cannot write the release (File too large); nothing was written"])
    assert not (project.parent / "new").exists() and leftovers(project.parent) == []


def test_a_full_temporary_folder_is_one_line(project, tmp_path):
    """pySigma writes its ATT&CK data cache in the temporary folder in every process (attack.py)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = full_disk_build(64 * 1024, project, "rel", warm=False, env={"TMPDIR": str(scratch)})
    assert (done.returncode, errors(done.stderr)) == (1, [
        f"error: {scratch}: cannot write pySigma's data cache here (disk I/O error); free some space, or point TMPDIR at a folder with room"])
    assert not (project.parent / "rel").exists()
