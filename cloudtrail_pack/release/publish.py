"""Putting a finished release in place: one build at a time, and `dist/` always whole for its readers.

A build writes everything into a staging folder beside `dist/` and then swaps the two. On Linux the
swap is one `renameat2(RENAME_EXCHANGE)` system call (rename(2): "Atomically exchange oldpath and
newpath"), so a reader finds either the old release or the new one, never a missing or half-written
`dist/`. Where that call does not exist, two renames leave `dist/` absent for an instant. Concurrent
builds of one `dist/` take turns on an advisory lock (flock(2)) beside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _renameat2():
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    func = getattr(libc, "renameat2", None)  # glibc 2.28+
    if func is not None:
        func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return func


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths; False where the system cannot (the caller falls back)."""
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # file system or kernel without exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_folder(staging: Path, dist: Path) -> None:
    """Put `staging` in place of `dist` (which may not exist) and delete the old release."""
    mode = 0o777 & ~_umask()
    os.chmod(staging, mode)  # mkdtemp made it 0700; a release folder is as readable as any other
    if not dist.exists():
        os.rename(staging, dist)
        return
    if exchange(staging, dist):
        shutil.rmtree(staging)  # now the old release
        return
    old = Path(tempfile.mkdtemp(prefix=".dist-old-", dir=dist.parent))
    os.rmdir(old)
    os.replace(dist, old)
    os.replace(staging, dist)
    shutil.rmtree(old)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def build_lock(dist: Path) -> Iterator[None]:
    """Hold the build lock of `dist` (a `.<name>.lock` file beside it) for the duration of a build."""
    dist.parent.mkdir(parents=True, exist_ok=True)
    path = dist.parent / f".{dist.name}.lock"
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
