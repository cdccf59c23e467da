"""Build and tests make no network call: the suite's guard refuses any connection, and the pieces that
would otherwise download data (pySigma's ATT&CK and D3FEND loaders, SigmaHQ's validator tables) read the
pack's excerpts."""

import urllib.request

import pytest

from network_guard import NetworkAccessError


def test_the_network_guard_refuses_connections():
    with pytest.raises(Exception) as excinfo:
        urllib.request.urlopen("https://github.com/", timeout=5)
    assert isinstance(excinfo.value, NetworkAccessError) or isinstance(excinfo.value.__cause__, NetworkAccessError) or "test tried" in str(excinfo.value)


def test_attack_data_comes_from_the_shipped_excerpt():
    from sigma.data import mitre_attack

    assert mitre_attack.mitre_attack_techniques["T1531"] == "Account Access Removal"
    assert mitre_attack.mitre_attack_techniques["T1666"] == "Modify Cloud Resource Hierarchy"
    assert mitre_attack.mitre_attack_techniques_tactics_mapping["T1666"] == ["defense-evasion"]


def test_rule_checks_run_offline(pack):
    from cloudtrail_pack.validation import findings

    assert findings(pack) == []
