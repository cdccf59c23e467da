"""engine/plan_cache.py: a scan's plan is built once per content of the rules, filters, options and code,
read back without pySigma, and never stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtrail_pack.engine import plan_cache

from .helpers import record, s3, write

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "sigma" / "iam" / "aws_iam_user_deleted.yml"


@pytest.fixture
def rules(tmp_path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(RULE, folder / RULE.name)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CLOUDTRAIL_PACK_CACHE", str(folder))
    return folder


def test_the_key_follows_every_rule_byte_the_options_and_the_filters(rules, tmp_path):
    key = plan_cache.plan_key(rules, None, ())
    assert key == plan_cache.plan_key(rules, None, ())
    assert key != plan_cache.plan_key(rules, None, ("aws_iam_user_deleted",))
    filters = tmp_path / "filters"
    filters.mkdir()
    (filters / "f.yml").write_text("title: x\n")
    assert key != plan_cache.plan_key(rules, filters, ())
    path = rules / RULE.name
    path.write_bytes(path.read_bytes() + b"\n")
    assert key != plan_cache.plan_key(rules, None, ())


def test_the_key_follows_the_code(rules, tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "m.py").write_text("A = 1\n")
    monkeypatch.setattr(plan_cache, "_code_folders", lambda: [("code", code)])
    key = plan_cache.plan_key(rules, None, ())
    (code / "m.py").write_text("A = 2\n")
    assert plan_cache.plan_key(rules, None, ()) != key


def test_a_damaged_plan_is_built_again(rules, cache):
    from cloudtrail_pack.engine.plan import ScanPlan
    from cloudtrail_pack.pack import load_pack

    key = plan_cache.plan_key(rules, None, ())
    plan_cache.store(key, ScanPlan.build(load_pack(rules)))
    assert isinstance(plan_cache.load(key), ScanPlan)
    (cache / f"{key}.plan").write_bytes(b"not a pickle")
    assert plan_cache.load(key) is None
    assert os.stat(cache).st_mode & 0o077 == 0  # private to the user


def _scan(rules: Path, data: Path, cache: Path, probe: bool = False) -> subprocess.CompletedProcess:
    """The command in a process of its own; `probe`: also print which pySigma modules it loaded."""
    code = ("import sys; from cloudtrail_pack.cli.main import main; code = main(sys.argv[1:]); "
            "print('LOADED', sorted(m for m in sys.modules if m.startswith(('sigma.rule', 'sigma.collection', "
            "'sigma.backends')))); sys.exit(code)") if probe else "from cloudtrail_pack.cli.main import entry_point; entry_point()"
    env = dict(os.environ, CLOUDTRAIL_PACK_CACHE=str(cache))
    return subprocess.run([sys.executable, "-c", code, "--root", str(ROOT), "--rules-dir", str(rules), "scan", str(data)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_a_cached_plan_runs_without_pysigma_and_a_changed_rule_is_never_stale(rules, cache, tmp_path):
    data = write(tmp_path / "in.json", s3([record("DeleteUser", "d1", requestParameters={"userName": "bob"})]))
    first = _scan(rules, data, cache, probe=True)
    assert first.returncode == 0, first.stderr
    assert '"eventID":"d1"' in first.stdout and "'sigma.rule'" in first.stdout  # built: pySigma loaded
    second = _scan(rules, data, cache, probe=True)
    assert second.stdout.splitlines()[0] == first.stdout.splitlines()[0]
    assert "LOADED []" in second.stdout  # read back: no pySigma
    path = rules / RULE.name  # the rule now wants another event name: the old plan must not answer
    path.write_text(path.read_text().replace("eventName: DeleteUser", "eventName: DeleteRole"))
    third = _scan(rules, data, cache)
    assert third.returncode == 0, third.stderr
    assert third.stdout == ""


def test_only_the_plans_used_last_are_kept(rules, cache, monkeypatch):
    from cloudtrail_pack.engine.plan import ScanPlan
    from cloudtrail_pack.pack import load_pack

    monkeypatch.setattr(plan_cache, "KEEP", 2)
    plan = ScanPlan.build(load_pack(rules))
    for key in ("a", "b", "c"):
        plan_cache.store(key, plan)
        os.utime(cache / f"{key}.plan", ns=(0, {"a": 1, "b": 2, "c": 3}[key] * 10**9))
    plan_cache.store("d", plan)
    assert sorted(p.stem for p in cache.glob("*.plan")) == ["c", "d"]
