"""Build and tests make no network call: the suite's guard refuses any connection, and the pieces that
would otherwise download data (pySigma's ATT&CK and D3FEND loaders, SigmaHQ's validator tables) read the
pack's excerpts."""

import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from network_guard import NetworkAccessError


def test_the_network_guard_refuses_connections():
    with pytest.raises(Exception) as excinfo:
        urllib.request.urlopen("https://github.com/", timeout=5)
    assert isinstance(excinfo.value, NetworkAccessError) or isinstance(excinfo.value.__cause__, NetworkAccessError) or "test tried" in str(excinfo.value)


@pytest.mark.parametrize(
    "attempt",
    [
        lambda: socket.socket().connect_ex(("192.0.2.1", 80)),
        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53)),
        lambda: socket.gethostbyname("example.com"),
        lambda: socket.gethostbyname_ex("example.com"),
    ],
    ids=["connect_ex", "udp-sendto", "gethostbyname", "gethostbyname_ex"],
)
def test_the_network_guard_covers_every_way_out(attempt):
    with pytest.raises(NetworkAccessError):
        attempt()


@pytest.mark.skipif(
    os.environ.get("CLOUDTRAIL_PACK_NETNS") != "1",
    reason="not in a network namespace (run through `make test`, i.e. tools/offline.py, where the system allows one)",
)
def test_processes_started_by_tests_cannot_reach_the_network():
    child = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)"],
        capture_output=True, text=True, timeout=30,
    )
    assert child.returncode != 0 and "Network is unreachable" in child.stderr


def test_attack_data_comes_from_the_shipped_excerpt():
    from sigma.data import mitre_attack

    assert mitre_attack.mitre_attack_techniques["T1531"] == "Account Access Removal"
    assert mitre_attack.mitre_attack_techniques["T1666"] == "Modify Cloud Resource Hierarchy"
    assert mitre_attack.mitre_attack_techniques_tactics_mapping["T1666"] == ["defense-evasion"]


def test_rule_checks_run_offline(pack):
    from cloudtrail_pack.validation import findings

    assert findings(pack) == []
