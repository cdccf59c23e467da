"""Putting a finished release in place: one build at a time, and `dist/` always whole for its readers.

A build writes everything into a staging folder beside `dist/` and then swaps the two. On Linux the
swap is one `renameat2(RENAME_EXCHANGE)` system call (rename(2): "Atomically exchange oldpath and
newpath"), so a reader finds either the old release or the new one, never a missing or half-written
`dist/`. Where that call does not exist, two renames leave `dist/` absent for an instant. Concurrent
builds of one `dist/` take turns on an advisory lock (flock(2)) on a `.<name>.lock` file beside it, which
exists only while a build swaps: created under the lock, deleted before the lock is released (a build that
wakes up on a deleted lock file takes the new one), so that no build leaves it behind.
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


@contextlib.contextmanager
def staging_folder(dist: Path) -> Iterator[Path]:
    """A new, empty folder beside `dist` (creating the folders above it that are missing) to write a release
    into; on an error it is deleted, with the folders this made for it."""
    made = [p for p in (dist.parent, *dist.parent.parents) if not os.path.lexists(p)]
    try:
        dist.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".dist-", dir=dist.parent))
    except BaseException:
        _remove_empty(made)
        raise
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def replace_folder(staging: Path, dist: Path) -> None:
    """Put `staging` in place of `dist` (which may not exist) and delete the old release."""
    mode = 0o777 & ~_umask()
    os.chmod(staging, mode)  # mkdtemp made it 0700; a release folder is as readable as any other
    if not os.path.lexists(dist):
        os.rename(staging, dist)
        return
    if exchange(staging, dist):
        old = staging  # now the old release
    else:
        old = Path(tempfile.mkdtemp(prefix=".dist-old-", dir=dist.parent))
        os.rmdir(old)
        os.replace(dist, old)
        try:
            os.replace(staging, dist)
        except BaseException:
            os.replace(old, dist)
            raise
    shutil.rmtree(old, ignore_errors=True)
    if os.path.lexists(old):
        raise OSError(errno.ENOTEMPTY, f"the new release is in place, but the previous one could not be deleted from {old}", str(old))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def build_lock(dist: Path) -> Iterator[None]:
    """Hold the build lock of `dist` (a `.<name>.lock` file beside it, in a folder that exists) while a build
    swaps; the file is gone again when it returns."""
    path = dist.parent / f".{dist.name}.lock"
    fd = _locked(path)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before unlocking: a build waiting on this file finds it deleted, and retries
        os.close(fd)


def _locked(path: Path) -> int:
    """An open descriptor of the lock file `path`, locked, that is still the file at `path` (not one a build
    deleted while this one waited for it)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            if fcntl is None:
                return fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
