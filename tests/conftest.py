import socket

import pytest

# Tests never reach the network: pySigma reads ATT&CK and SigmaHQ data from the pack's excerpts, and any
# attempt to connect anywhere but this machine fails the test that made it.
from cloudtrail_pack.attack import use_local_attack_data

use_local_attack_data()


class NetworkAccessError(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
_LOCAL = ("127.0.0.1", "::1", "localhost")


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in _LOCAL:
        return _real_connect(self, address)
    raise NetworkAccessError(f"test tried to connect to {address!r}")


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host in _LOCAL or host is None:
        return _real_getaddrinfo(host, *args, **kwargs)
    raise NetworkAccessError(f"test tried to resolve {host!r}")


socket.socket.connect = _guarded_connect
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(scope="session")
def pack():
    from cloudtrail_pack.pack import load_pack

    return load_pack()


@pytest.fixture(scope="session")
def reference(pack):
    from cloudtrail_pack.reference import ReferenceEngine

    return ReferenceEngine(pack)
