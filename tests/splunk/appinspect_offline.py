"""Run `splunk-appinspect inspect` with the network cut off, and report every attempt to reach it.

Usage: python appinspect_offline.py <attempts.json> <splunk-appinspect arguments...>

Every socket connect and name lookup to anything but this machine is refused (OSError, as an offline
machine gives) and recorded in <attempts.json>; the test asserts that list is empty, so a check that
wanted the network would show up rather than pass silently. AppInspect's one network use is the update
of its trusted-libraries list (https://cdn.appinspect.splunk.com), which `--skip-trusted-libraries-update`
turns off; those libraries only matter for apps that bundle JavaScript or Python code, and ours has none.
"""

import json
import socket
import sys

attempts: list[str] = []
_LOCAL = ("127.0.0.1", "::1", "localhost")
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _host(address):
    return address[0] if isinstance(address, tuple) else address


def connect(self, address):
    if self.family != socket.AF_UNIX and _host(address) not in _LOCAL:
        attempts.append(f"connect {address!r}")
        raise OSError(101, "Network is unreachable (blocked by the offline test)")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family != socket.AF_UNIX and _host(address) not in _LOCAL:
        attempts.append(f"connect_ex {address!r}")
        return 101
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and host not in _LOCAL:
        attempts.append(f"getaddrinfo {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, "name resolution blocked by the offline test")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo

if __name__ == "__main__":
    record, args = sys.argv[1], sys.argv[2:]
    from splunk_appinspect.main import execute

    sys.argv = ["splunk-appinspect", *args]
    code = 0
    try:
        execute()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        with open(record, "w", encoding="utf-8") as f:
            json.dump(attempts, f)
    sys.exit(code)
