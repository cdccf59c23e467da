"""The pack's one error type, and how a message names a file: the bottom of the package (nothing here imports
another module of it), so that every layer can raise a PackError that names the file, and line, to fix.

`read_source` and `source_files` are here too: reading the files the user gave is where most of those errors start.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def shown(path: Path) -> Path:
    """A path as a message shows it: relative to the working directory when it is below it."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


class PackError(Exception):
    """A problem with the pack's sources, located in a file (and line, where known)."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {message}")


#: What a path that is not a regular file is, for messages (stat's file types).
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def read_source(path: Path, what: str) -> str:
    """The text of a source file the user gave (a rule, a filter, the lock, a configuration), opened only if
    it is a regular file: reading a FIFO would wait for a writer forever, and a socket or device is no source.
    PackError naming the file and what it is otherwise."""
    where = shown(path)
    must = f"a {what} must be a regular file: remove it or replace it with one"
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        if os.path.islink(path):
            raise PackError(where, f"a dangling symbolic link; {must}") from e
        raise PackError(where, f"cannot read the {what} (not found)") from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise PackError(where, f"a symbolic link loop; {must}") from e
        raise PackError(where, f"cannot read the {what} ({e.strerror or e})") from e
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise PackError(where, f"{kind}, not a regular file; {must}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PackError(where, f"cannot read the {what} ({getattr(e, 'strerror', None) or e})") from e


def source_files(folder: Path) -> list[Path]:
    """The `*.yml`/`*.yaml` entries under `folder` (recursively, in path order) that are not folders: each is
    read with `read_source`, which refuses whatever is not a regular file, by name, without opening it."""
    found = []
    for path in folder.rglob("*"):
        if path.suffix not in (".yml", ".yaml"):
            continue
        try:
            if stat.S_ISDIR(os.stat(path).st_mode):
                continue  # a folder named like a file: rglob walks into it
        except OSError:
            pass  # read_source says what it is
        found.append(path)
    return sorted(found)
