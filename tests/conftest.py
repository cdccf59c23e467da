import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import network_guard
import pytest

from cloudtrail_pack.attack import use_local_attack_data

# Tests never reach the network: pySigma reads ATT&CK and SigmaHQ data from the pack's excerpts, and any
# attempt to connect anywhere but this machine fails the test that made it.
use_local_attack_data()
network_guard.install()

# scan's plan cache (engine/plan_cache.py) in a folder of this test process's own, never the user's ~/.cache;
# commands the tests run inherit it.
if "CLOUDTRAIL_PACK_CACHE" not in os.environ:
    os.environ["CLOUDTRAIL_PACK_CACHE"] = tempfile.mkdtemp(prefix="cloudtrail-pack-cache-")
    atexit.register(shutil.rmtree, os.environ["CLOUDTRAIL_PACK_CACHE"], True)

# For the `sigma` fixture, imported here rather than in the first test that runs it: sigma-cli binds sys.stderr
# when imported (sigma/cli/rules.py, `from sys import stderr`), and a test's capsys stream is closed after it.
from sigma.cli.main import main as sigma_cli_main

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """The Spark group (tests/spark/conftest.py: one worker, one JVM, the longest unit of work) first, so that
    the worker that takes it starts it at once while the other runs the rest. (Putting the other long tests,
    builds and repository copies, first too was measured slower: they spawn processes that compete with the
    JVM's threads.)"""
    items.sort(key=lambda item: 0 if item.get_closest_marker("xdist_group") else 1)


@pytest.fixture(scope="session")
def pack():
    from cloudtrail_pack.pack import load_pack

    return load_pack(ROOT / "sigma")


@pytest.fixture(scope="session")
def reference(pack):
    from cloudtrail_pack.engine.reference import ReferenceEngine

    return ReferenceEngine(pack)


@pytest.fixture(scope="session")
def tree_bytes():
    """{relative path: bytes} of every file under a folder (the writers' determinism tests compare two)."""

    def read(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return read


@dataclass
class SigmaRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def sigma(monkeypatch, capsys):
    """sigma-cli through its real entry point (`sigma.cli.main.main`, the `sigma` console script), run in this
    process with its arguments in sys.argv, so that the network guard applies: `sigma("convert", ...)`."""

    def run(*args: str) -> SigmaRun:
        monkeypatch.setattr(sys, "argv", ["sigma", *args])
        with pytest.raises(SystemExit) as exited:
            sigma_cli_main()
        out = capsys.readouterr()
        return SigmaRun(exited.value.code or 0, out.out, out.err)

    return run
