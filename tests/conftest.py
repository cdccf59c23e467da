import sys
from dataclasses import dataclass
from pathlib import Path

import network_guard
import pytest

from cloudtrail_pack.attack import use_local_attack_data

# Tests never reach the network: pySigma reads ATT&CK and SigmaHQ data from the pack's excerpts, and any
# attempt to connect anywhere but this machine fails the test that made it.
use_local_attack_data()
network_guard.install()

# For the `sigma` fixture, imported here rather than in the first test that runs it: sigma-cli binds sys.stderr
# when imported (sigma/cli/rules.py, `from sys import stderr`), and a test's capsys stream is closed after it.
from sigma.cli.main import main as sigma_cli_main

ROOT = Path(__file__).resolve().parents[1]

#: Modules whose tests run for tens of seconds each (a build, a copy of the repository): run early, beside the
#: Spark group, so that none of them starts last and runs alone on one worker while the other is idle.
LONG_FIRST = ("tests/test_new_rule.py", "tests/test_build.py", "tests/test_release_destination.py", "tests/test_cli.py",
              "tests/scan/test_any_input.py", "tests/test_matcher.py")


def pytest_collection_modifyitems(items):
    """The order the workers take the tests in (`make test` runs `-n auto --dist loadgroup`): the Spark group
    (tests/spark/conftest.py, the longest unit of work, on one worker) first, then LONG_FIRST, then the rest
    in collection order."""

    def rank(item) -> int:
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.nodeid.split("::", 1)[0] in LONG_FIRST else 2

    items.sort(key=rank)


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
