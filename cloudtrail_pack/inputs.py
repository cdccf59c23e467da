"""The inputs of a scan: every path given, and every file under a folder given, read or named with the
reason it is not (`walk`)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Iterator


def walk(paths: list[Path | str]) -> Iterator[tuple[str, str | None]]:
    """(path, None) for every file to read, (path, reason) for every input that will not be read.

    Files named, and files under folders named (recursively, in name order, hidden files left out);
    "-" is standard input. Symbolic links are followed, each folder and file once: a second way to the
    same folder (a loop, or two links) and a second way to the same file are reported, as are dangling
    links, unreadable folders, empty folders, and anything that is not a regular file (a FIFO is never
    opened: reading one would wait for a writer).
    """
    seen: set[tuple[int, int]] = set()

    def visit(path: str):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            yield path, "dangling symbolic link" if os.path.islink(path) else "no such file or folder"
            return
        except OSError as e:
            yield path, "symbolic link loop" if e.errno == errno.ELOOP else f"cannot read ({e.strerror or e})"
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            what = "folder" if stat.S_ISDIR(st.st_mode) else "file"
            yield path, f"already scanned: a second way to the same {what} (a symbolic link loop or a second link)"
            return
        seen.add(key)
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(path) as it:
                    names = sorted(e.name for e in it)
            except OSError as e:
                yield path, f"cannot read folder ({e.strerror or e})"
                return
            visible = [n for n in names if not n.startswith(".")]
            if not visible:
                yield path, "empty folder" if not names else "folder holds only hidden files"
                return
            for name in visible:
                yield from visit(os.path.join(path, name))
        elif stat.S_ISREG(st.st_mode):
            if not os.access(path, os.R_OK):
                yield path, "cannot read (permission denied)"
            else:
                yield path, None
        else:
            yield path, "not a regular file (a FIFO, socket or device): not read"

    for p in paths:
        p = str(p)
        if p == "-":
            yield p, None
        else:
            yield from visit(p)
