"""The app passes Splunk AppInspect (precert mode: every check, every tag) with no failure, error or
warning, and AppInspect runs offline.

AppInspect's only network use is updating its trusted-libraries list from https://cdn.appinspect.splunk.com
before the checks; `--skip-trusted-libraries-update` turns it off (the list only concerns apps that bundle
JavaScript or Python libraries; ours is configuration only). The run happens in a subprocess in which every
connection and name lookup off this machine is refused and recorded (appinspect_offline.py): the test
fails if AppInspect tried the network at all. It runs once per session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("appinspect_offline.py")


@pytest.fixture(scope="module")
def appinspect(splunk_app, tmp_path_factory):
    out = tmp_path_factory.mktemp("appinspect")
    report, attempts = out / "report.json", out / "network.json"
    proc = subprocess.run(
        [
            sys.executable, str(RUNNER), str(attempts),
            "inspect", str(splunk_app),
            "--mode", "precert",
            "--skip-trusted-libraries-update",
            "--data-format", "json", "--output-file", str(report),
            "--max-messages", "all",
        ],
        capture_output=True, text=True, timeout=600, cwd=out,
    )
    assert report.exists(), f"AppInspect wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(report.read_text()), json.loads(attempts.read_text())


def problems(report: dict, results: tuple[str, ...]) -> list[str]:
    return [
        f"{check['result']}: {check['name']}: " + " | ".join(m["message"] for m in check["messages"])
        for r in report["reports"]
        for group in r["groups"]
        for check in group["checks"]
        if check["result"] in results
    ]


def test_appinspect_finds_no_failure_or_error(appinspect):
    proc, report, _ = appinspect
    assert problems(report, ("failure", "error", "future_failure")) == []
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_appinspect_finds_no_warning_and_skips_nothing(appinspect):
    _, report, _ = appinspect
    assert problems(report, ("warning", "skipped", "manual_check")) == []


def test_appinspect_ran_the_app_checks(appinspect):
    _, report, _ = appinspect
    summary = report["summary"]
    assert summary["success"] >= 80
    passed = {c["name"] for r in report["reports"] for g in r["groups"] for c in g["checks"] if c["result"] == "success"}
    assert {
        "check_for_gratuitous_cron_scheduling",
        "check_for_sched_saved_searches_earliest_time",
        "check_for_sched_saved_searches_latest_time",
        "check_for_valid_package_id",
        "check_meta_default_write_access",
        "check_that_splunk_app_package_valid_compressed_file",
    } <= passed


def test_appinspect_made_no_network_attempt(appinspect):
    _, _, attempts = appinspect
    assert attempts == []
