"""Refuse every network connection from the test process, except to this machine."""

import socket


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


def install() -> None:
    socket.socket.connect = _guarded_connect
    socket.getaddrinfo = _guarded_getaddrinfo
