"""The installed command, `cloudtrail-pack`, as a user runs it in a shell: its verbs, its exit codes,
and how it ends when interrupted or when its reader goes away."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtrail_pack import cli

ROOT = Path(__file__).resolve().parents[1]
COMMAND = Path(sys.executable).parent / "cloudtrail-pack"

pytestmark = pytest.mark.skipif(not COMMAND.exists(), reason="the project is not installed (make test installs it)")


def many_deletions(folder: Path, files: int, per_file: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = [
            json.dumps({
                "eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
                "eventName": "DeleteUser", "eventID": f"e-{f}-{i}", "awsRegion": "us-east-1",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
                "requestParameters": {"userName": f"user-{i}"},
            })
            for i in range(per_file)
        ]
        (folder / f"part-{f:04d}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_the_installed_command_lists_its_verbs():
    out = subprocess.run([str(COMMAND), "--help"], capture_output=True, text=True, check=True).stdout
    for verb in ("build", "check", "lock", "convert", "scan"):
        assert f"  {verb} " in out


def test_the_command_finds_the_project_from_the_working_directory():
    """Run from a sub-folder of the repository: the rules, lock and validation config are the project's."""
    done = subprocess.run([str(COMMAND), "convert", "aws_organizations_leave_organization", "lucene"],
                          capture_output=True, text=True, cwd=ROOT / "fixtures")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "event.provider:organizations.amazonaws.com AND event.action:LeaveOrganization\n"


def foreground_signals() -> None:
    """Start the command as a shell starts a foreground job: SIGINT at its default. A process inherits an
    ignored SIGINT (a test run started with `&` by a non-interactive shell has one), and Python then never
    raises KeyboardInterrupt, so without this the test would depend on how pytest itself was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_closed_pipe_ends_the_scan_quietly(tmp_path):
    """`cloudtrail-pack scan ... | head -1`: exit 141 (128 + SIGPIPE, what a shell reports), no traceback."""
    logs = many_deletions(tmp_path / "logs", files=4, per_file=1500)
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert json.loads(first)["eventName"] == "DeleteUser"
    assert "Traceback" not in err and "Exception ignored" not in err


def test_ctrl_c_ends_the_scan_quietly(tmp_path):
    """Ctrl-C (SIGINT to the process group) in the middle of a parallel scan: exit 130, no traceback from
    the command or its workers."""
    logs = many_deletions(tmp_path / "logs", files=200, per_file=300)
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=foreground_signals)
    assert proc.stdout.readline()  # the scan is running: its first match is out
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err.decode() and "KeyboardInterrupt" not in err.decode()


@pytest.mark.parametrize("jobs", ["0", str((os.cpu_count() or 1) * 2 + 1)])
def test_jobs_outside_one_to_twice_the_cores_is_a_usage_error(jobs, tmp_path, capsys):
    assert cli.main(["scan", str(tmp_path), "--jobs", jobs], root=ROOT) == 2
    assert "--jobs" in capsys.readouterr().err


def test_a_rules_folder_elsewhere_uses_the_projects_lock(tmp_path, capsys):
    """--rules-dir moves the rules only: the lock, validation config and changelog stay the project's."""
    import shutil

    shutil.copytree(ROOT / "sigma", tmp_path / "rules")
    assert cli.main(["--rules-dir", str(tmp_path / "rules"), "check"], root=ROOT) == 0
    assert "versions locked" in capsys.readouterr().out
