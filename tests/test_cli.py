"""The installed command, `cloudtrail-pack`, as a user runs it in a shell: its verbs, its exit codes,
and how it ends when interrupted or when its reader goes away."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


# ---- output errors, signals and arguments: one line, the conventional status, correct counts ------


def summary_line(err: str) -> tuple[int, int, int]:
    """(files, events, matches) of the scan's summary line."""
    m = re.search(r"^(\d+) files(?: \(the last one read in part\))?, (\d+) events \(\d+ parsed\), (\d+) matches", err, re.M)
    assert m, err
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("verb", [
    ["scan", "fixtures/correlation", "--jobs", "1"], ["scan", "fixtures/correlation", "--jobs", "2"],
    ["scan", "fixtures/correlation", "--format", "table"], ["convert", "aws_iam_user_deleted_mass", "splunk"],
    ["check"], ["--help"],
], ids=["scan", "scan-2-jobs", "scan-table", "convert", "check", "help"])
def test_a_full_disk_on_standard_output_is_one_line_and_exit_74(verb):
    with open("/dev/full", "wb") as full:
        done = subprocess.run([str(COMMAND), "--root", str(ROOT), *verb], stdout=full, stderr=subprocess.PIPE, cwd=ROOT,
                              timeout=300)
    err = done.stderr.decode()
    assert done.returncode == 74, err
    assert err.splitlines()[-1] == "error: cannot write to standard output: No space left on device"
    assert "Traceback" not in err and "Exception ignored" not in err
    if verb[0] == "scan" and "table" not in verb:
        assert summary_line(err)[2] == 0  # no match was written


def test_the_summary_counts_what_was_read_when_the_reader_goes_away(tmp_path):
    """`scan ... | head -1` said "0 files, 0 events (0 parsed), 2 matches": the file being read counts
    with what was read of it, and a match counts once written."""
    logs = many_deletions(tmp_path / "logs", files=1, per_file=20000)
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    files, events, matches = summary_line(err)
    assert files == 1 and events >= matches >= 1, err
    assert "stopped: the output closed (its reader went away)" in err
    assert "Traceback" not in err


def test_a_closed_pipe_ends_the_table_with_141_too(tmp_path):
    logs = many_deletions(tmp_path / "logs", files=2, per_file=3000)
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "1", "--format", "table"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`, before the table (6,000 rows) is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find the worker processes")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_end_with_the_scan_whatever_ends_it(tmp_path, sig):
    """`kill <scan pid>` left both workers blocked on a pipe for minutes. SIGTERM is Ctrl-C's twin
    (summary, exit 143); after SIGKILL too the workers are gone within seconds, and so are the spools."""
    logs = many_deletions(tmp_path / "logs", files=200, per_file=300)
    (tmp_path / "tmp").mkdir()  # the scan's spools go here: none may be left
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    workers = []
    try:
        assert proc.stdout.readline()  # the scan is running
        workers = children(proc.pid)
        assert len(workers) == 2
        os.kill(proc.pid, sig)  # the parent only, as `kill` sends it; nobody reads its output meanwhile
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(w) for w in workers)
        out, err = proc.communicate(timeout=60)
        if sig == signal.SIGTERM:
            err = err.decode()
            assert proc.returncode == 143, err
            assert "interrupted: the figures below cover what was scanned before SIGTERM" in err
            assert summary_line(err)[0] >= 1 and "Traceback" not in err
    finally:
        for pid in [proc.pid, *workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert list((tmp_path / "tmp").glob("cloudtrail-scan-*")) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find the worker processes")
def test_a_worker_killed_mid_scan_costs_no_file(tmp_path):
    """A worker that dies (the OOM killer, a kill) broke the whole scan (BrokenProcessPool): the files
    it held are scanned again and every match is still reported."""
    logs = many_deletions(tmp_path / "logs", files=60, per_file=2000)
    proc = subprocess.Popen([str(COMMAND), "--root", str(ROOT), "scan", str(logs), "--jobs", "2", "--rules",
                             "0b40a563-9611-430c-ac03-6536096733f9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    os.kill(children(proc.pid)[0], signal.SIGKILL)
    out = proc.stdout.read()  # through the same buffer as readline (communicate() would skip its content)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert len([first, *out.splitlines()]) == 60 * 2000
    assert "Traceback" not in err


def test_a_path_that_does_not_exist_is_skipped_and_the_rest_scanned(tmp_path, capsys):
    logs = many_deletions(tmp_path / "logs", files=1, per_file=2)
    assert cli.main(["scan", str(tmp_path / "nowhere"), str(logs), "--jobs", "1", "--rules",
                     "0b40a563-9611-430c-ac03-6536096733f9"], root=ROOT) == 2
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert f"skipped {tmp_path / 'nowhere'}: no such file or folder" in err


def without_file_permission_override() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set,
    so that even root is refused a file of mode 0 (prctl PR_CAPBSET_DROP), as any user would be."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops Linux capabilities when run as root")
def test_an_unreadable_file_named_is_skipped_and_the_rest_scanned(tmp_path):
    """Named on the command line it was a click usage error; inside a folder, a skipped file."""
    logs = many_deletions(tmp_path / "logs", files=1, per_file=2)
    secret = tmp_path / "secret.jsonl"
    secret.write_text("{}\n")
    os.chmod(secret, 0)
    done = subprocess.run([str(COMMAND), "--root", str(ROOT), "scan", str(secret), str(logs), "--jobs", "1"],
                          capture_output=True, timeout=120,
                          preexec_fn=without_file_permission_override if os.geteuid() == 0 else None)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert len(done.stdout.splitlines()) == 2
    assert f"skipped {secret}: cannot read (permission denied)" in err


def test_scan_loads_neither_the_rule_checks_nor_the_release(tmp_path):
    """`scan` imports what backtesting needs: the rule checks (pySigma's SigmaValidator with every SigmaHQ
    validator class, about 0.3 s) and the release writers belong to check and build. A helper the scan path shares with them (the data cache's error) once pulled
    the validators into every scan."""
    (tmp_path / "empty.json").write_text('{"Records": []}')
    probe = (
        "import sys\n"
        "from cloudtrail_pack import cli\n"
        f"sys.argv = ['cloudtrail-pack', '--root', {str(ROOT)!r}, 'scan', {str(tmp_path / 'empty.json')!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('sigma.validation', "
        "'cloudtrail_pack.validation', 'cloudtrail_pack.release', 'cloudtrail_pack.artifacts'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"scan imported: {done.stdout.strip()}"
