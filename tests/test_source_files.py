"""What the pack reads from its project: only regular files. A FIFO (or a socket, a device, a dangling link)
named like a rule or a filter is refused by name, without being opened: reading a FIFO would wait for a
writer forever, and every verb that loads the rules (check, build, scan, lock, convert) would hang."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudtrail_pack.filters import load_filters
from cloudtrail_pack.pack import PackError, load_pack

ROOT = Path(__file__).resolve().parents[1]
COMMAND = str(Path(sys.executable).parent / "cloudtrail-pack")
RULE = ROOT / "sigma" / "organizations" / "aws_organizations_leave_organization.yml"
FILTER = """title: t
id: 11111111-2222-4333-8444-555555555555
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [aws_iam_user_deleted]
  allowed: {userIdentity.arn: 'arn:aws:iam::111122223333:user/ops'}
  condition: not allowed
"""

@functools.cache
def the_pack():
    return load_pack(ROOT / "sigma")


pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")


def project_copy(folder: Path) -> Path:
    shutil.copytree(ROOT / "sigma", folder / "sigma")
    for name in ("version.lock.json", "validation.yml", "CHANGELOG.md", "pyproject.toml"):
        shutil.copyfile(ROOT / name, folder / name)
    return folder


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command in its own process: a verb that opened a FIFO would block there, and the timeout fails the test."""
    return subprocess.run([COMMAND, *argv], cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("verb", [["check"], ["build", "--dist", "out"], ["scan", "logs"], ["lock"]])
def test_a_fifo_in_the_rules_folder_is_refused_by_name(tmp_path, verb):
    project = project_copy(tmp_path / "p")
    os.mkfifo(project / "sigma" / "iam" / "pipe.yml")
    shutil.copytree(ROOT / "fixtures" / "iam", project / "logs")
    lock_before = (project / "version.lock.json").read_bytes()
    done = run(*verb, cwd=project)
    assert done.returncode == 1, done
    assert done.stderr.strip().splitlines() == [
        "error: sigma/iam/pipe.yml: a FIFO (named pipe), not a regular file; a rule file must be a regular file: "
        "remove it or replace it with one"
    ]
    assert not (project / "out").exists() and (project / "version.lock.json").read_bytes() == lock_before


@pytest.mark.parametrize("verb", [["check"], ["build", "--dist", "out"], ["scan", "logs"]])
def test_a_fifo_in_the_filters_folder_is_refused_by_name(tmp_path, verb):
    project = project_copy(tmp_path / "p")
    (project / "filters").mkdir()
    (project / "filters" / "ok.yml").write_text(FILTER)
    os.mkfifo(project / "filters" / "pipe.yaml")
    shutil.copytree(ROOT / "fixtures" / "iam", project / "logs")
    done = run(*verb, "--filters", "filters", cwd=project)
    assert done.returncode == 1, done
    assert done.stderr.strip().splitlines()[-1] == (
        "error: filters/pipe.yaml: a FIFO (named pipe), not a regular file; a filter file must be a regular file: "
        "remove it or replace it with one"
    )
    assert not (project / "out").exists()


def test_a_fifo_lock_or_changelog_is_refused_by_name(tmp_path):
    project = project_copy(tmp_path / "p")
    (project / "CHANGELOG.md").unlink()
    os.mkfifo(project / "CHANGELOG.md")
    done = run("build", "--dist", "out", cwd=project)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        1, "error: CHANGELOG.md: a FIFO (named pipe), not a regular file; a changelog must be a regular file: "
        "remove it or replace it with one")
    (project / "version.lock.json").unlink()
    os.mkfifo(project / "version.lock.json")
    done = run("check", cwd=project)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        1, "error: version.lock.json: a FIFO (named pipe), not a regular file; a version lock must be a regular "
        "file: remove it or replace it with one")


# --- the class: whatever is not a regular file, wherever it is in the folder, under either suffix ----------------------

KINDS = {
    "fifo": "a FIFO (named pipe), not a regular file",
    "socket": "a socket, not a regular file",
    "dangling": "a dangling symbolic link",
    "loop": "a symbolic link loop",
}


def make(path: Path, kind: str) -> list:
    """Create a non-regular entry; returns what must stay open (a bound socket) while the test runs."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return [sock]
    elif kind == "dangling":
        os.symlink(path.parent / "nowhere", path)
    else:
        os.symlink(path.name, path)  # points at itself
    return []


def unblocking(path: Path) -> threading.Timer:
    """If the code under test opened the FIFO after all, give it an end of file after a few seconds, so that
    the test fails on its message instead of hanging the suite."""

    def open_and_close() -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # nobody is reading: nothing to unblock

    timer = threading.Timer(5.0, open_and_close)
    timer.start()
    return timer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(KINDS)),
    depth=st.integers(0, 2),
    suffix=st.sampled_from([".yml", ".yaml"]),
    folder=st.sampled_from(["rules", "filters"]),
)
@example(kind="fifo", depth=0, suffix=".yml", folder="rules")
@example(kind="fifo", depth=2, suffix=".yaml", folder="filters")
@example(kind="socket", depth=1, suffix=".yml", folder="rules")
@example(kind="dangling", depth=0, suffix=".yml", folder="filters")
@example(kind="loop", depth=1, suffix=".yaml", folder="rules")
def test_whatever_is_not_a_regular_file_is_refused_by_name(tmp_path_factory, kind, depth, suffix, folder):
    base = tmp_path_factory.mktemp("src")
    rules, filters = base / "rules", base / "filters"
    (rules / "a").mkdir(parents=True)
    shutil.copyfile(RULE, rules / "a" / RULE.name)
    filters.mkdir()
    (filters / "ok.yml").write_text(FILTER)
    where = (rules if folder == "rules" else filters).joinpath(*["sub"] * depth)
    where.mkdir(parents=True, exist_ok=True)
    bad = where / f"x{suffix}"
    keep = make(bad, kind)
    timer = unblocking(bad) if kind == "fifo" else None
    try:
        with pytest.raises(PackError) as raised:
            load_pack(rules) if folder == "rules" else load_filters(filters, the_pack())
    finally:
        if timer:
            timer.cancel()
        for sock in keep:
            sock.close()
    assert raised.value.path.absolute() == bad.absolute()
    assert raised.value.message.startswith(KINDS[kind] + "; a " + ("rule" if folder == "rules" else "filter") + " file must be a regular file")


def test_a_folder_named_like_a_rule_file_is_walked_not_read(tmp_path):
    rules = tmp_path / "rules"
    (rules / "more.yml").mkdir(parents=True)
    shutil.copyfile(RULE, rules / "more.yml" / RULE.name)
    assert [r.title for r in load_pack(rules).rules] == ["AWS Account Left the Organization"]
