"""Refuse every network access from the test process, except to this machine.

In-process: TCP `connect`/`connect_ex`, UDP `sendto`, and name resolution (`getaddrinfo`,
`gethostbyname`, `gethostbyname_ex`). Processes a test starts (terraform, sigma-cli) are outside
Python's reach: `make test` runs the whole suite in a network namespace with only a loopback interface
where the system allows one (tools/offline.py), and `test_offline.py` checks that it does.
"""

import socket


class NetworkAccessError(RuntimeError):
    pass


_LOCAL = ("127.0.0.1", "::1", "localhost")
_real = {
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
    "sendto": socket.socket.sendto,
    "getaddrinfo": socket.getaddrinfo,
    "gethostbyname": socket.gethostbyname,
    "gethostbyname_ex": socket.gethostbyname_ex,
}


def _local(sock, address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return sock.family == socket.AF_UNIX or host in _LOCAL


def _connect(self, address):
    if not _local(self, address):
        raise NetworkAccessError(f"test tried to connect to {address!r}")
    return _real["connect"](self, address)


def _connect_ex(self, address):
    if not _local(self, address):
        raise NetworkAccessError(f"test tried to connect to {address!r}")
    return _real["connect_ex"](self, address)


def _sendto(self, data, *args):
    address = args[-1]
    if not _local(self, address):
        raise NetworkAccessError(f"test tried to send to {address!r}")
    return _real["sendto"](self, data, *args)


def _resolver(name):
    def resolve(host, *args, **kwargs):
        if host in _LOCAL or host is None:
            return _real[name](host, *args, **kwargs)
        raise NetworkAccessError(f"test tried to resolve {host!r}")

    return resolve


def install() -> None:
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.sendto = _sendto
    socket.getaddrinfo = _resolver("getaddrinfo")
    socket.gethostbyname = _resolver("gethostbyname")
    socket.gethostbyname_ex = _resolver("gethostbyname_ex")
