from pathlib import Path

import network_guard
import pytest

from cloudtrail_pack.attack import use_local_attack_data

# Tests never reach the network: pySigma reads ATT&CK and SigmaHQ data from the pack's excerpts, and any
# attempt to connect anywhere but this machine fails the test that made it.
use_local_attack_data()
network_guard.install()

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pack():
    from cloudtrail_pack.pack import load_pack

    return load_pack(ROOT / "sigma")


@pytest.fixture(scope="session")
def reference(pack):
    from cloudtrail_pack.engine.reference import ReferenceEngine

    return ReferenceEngine(pack)
