"""Where a release may go: a new folder, an empty one, or a previous release that the build recognises, never
anything else, since the build replaces the folder whole.

A previous release is recognised by what every build writes (release/build.py): a `manifest.json` naming this
pack and a `SHA256SUMS` that lists every file in the folder. A release someone partly deleted still qualifies
(nothing of theirs is lost); a file the build did not write (notes, a symbolic link, another tool's output) makes
the folder someone else's, and the build refuses it, naming what it found, before it creates anything.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from ..pack import PackError, shown
from ..project import PACK_NAME

#: The marker files, and the most of either a release folder's check reads: a real manifest is tens of KiB;
#: a bigger file of that name is not one the build wrote, and is not read whole.
MANIFEST, SUMS = "manifest.json", "SHA256SUMS"
MARKER_MAX_BYTES = 16 * 1024 * 1024

CHOOSE = "choose an empty or new folder"


def checked(dist: Path, rules_dir: Path | None = None) -> Path:
    """The absolute release folder (symbolic links resolved) if a build may put a release there; PackError
    naming `dist` as given, and saying why and what to do, otherwise. Creates nothing."""
    where = shown(Path(dist))
    path = Path(os.path.realpath(dist))
    problem = _place_problem(path, rules_dir)
    if problem is None:
        problem = release_problem(path)
    if problem is not None:
        raise PackError(where, problem)
    return path


def _place_problem(path: Path, rules_dir: Path | None) -> str | None:
    if path.parent == path:
        return f"the root of the file system cannot be a release folder; {CHOOSE}"
    cwd = Path(os.path.realpath(Path.cwd()))
    if path == cwd or path in cwd.parents:
        return f"holds the working directory, which a build would replace; {CHOOSE}"
    if rules_dir is not None:
        rules = Path(os.path.realpath(rules_dir))
        if path == rules or path in rules.parents:
            return f"holds the rules folder {shown(rules_dir)}, which a build would replace; {CHOOSE}"
        if rules in path.parents:
            return f"inside the rules folder {shown(rules_dir)}, where the released rules would be read as rules; {CHOOSE} outside it"
    return None


def release_problem(path: Path) -> str | None:
    """None if a build may replace `path` (absolute): missing (under a folder, not under a file), empty, or a
    previous release; else why not."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):  # missing, or under a file
            return _parent_problem(path)
        return f"cannot look at the release folder ({e.strerror or e})"
    if stat.S_ISLNK(st.st_mode):  # realpath left a link: a loop or a dangling one
        return f"a symbolic link that leads nowhere; {CHOOSE}"
    if not stat.S_ISDIR(st.st_mode):
        return f"a file, not a folder; {CHOOSE}"
    try:
        with os.scandir(path) as it:
            if next(it, None) is None:
                return None
    except OSError as e:
        return f"cannot read the folder ({e.strerror or e})"
    listed = _listed_files(path)
    if isinstance(listed, str):
        return f"not a release built by cloudtrail-pack ({listed}); {CHOOSE}"
    return _unlisted_entry(path, listed)


def _parent_problem(path: Path) -> str | None:
    """A folder that does not exist yet can be made if its nearest existing ancestor is a folder."""
    for ancestor in path.parents:
        try:
            st = os.stat(ancestor)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            return f"cannot look at {shown(ancestor)} ({e.strerror or e})"
        if not stat.S_ISDIR(st.st_mode):
            return f"under {shown(ancestor)}, which is a file, not a folder; {CHOOSE}"
        return None
    return None


def _read_marker(path: Path) -> bytes | str:
    """The marker file's bytes, or why it is not one the build wrote (never opening anything but a regular file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return f"no {path.name}"
    except OSError as e:
        return f"cannot read {path.name}: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return f"its {path.name} is not a regular file"
    if st.st_size > MARKER_MAX_BYTES:
        return f"its {path.name} is over {MARKER_MAX_BYTES // (1024 * 1024)} MiB"
    try:
        return path.read_bytes()
    except OSError as e:
        return f"cannot read {path.name}: {e.strerror or e}"


def _listed_files(path: Path) -> set[str] | str:
    """The files the release's SHA256SUMS lists, if its manifest names this pack; else why it is not a release."""
    manifest = _read_marker(path / MANIFEST)
    if isinstance(manifest, str):
        return manifest
    try:
        pack = json.loads(manifest).get("pack")
    except (ValueError, AttributeError):
        pack = None
    if pack != PACK_NAME:
        return f"its {MANIFEST} is not the manifest of a {PACK_NAME} release"
    sums = _read_marker(path / SUMS)
    if isinstance(sums, str):
        return sums
    listed = set()
    for line in sums.decode("utf-8", errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            return f"its {SUMS} is not a list of SHA-256 sums"
        listed.add(name)
    return listed | {SUMS}


def _unlisted_entry(path: Path, listed: set[str]) -> str | None:
    """Why not, if anything under `path` is neither a listed regular file nor a folder, or cannot be checked."""
    unreadable: list[OSError] = []
    for folder, dirs, files in os.walk(path, onerror=unreadable.append):
        if unreadable:
            break
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            relative = Path(full).relative_to(path).as_posix()
            if relative not in listed or not stat.S_ISREG(os.lstat(full).st_mode):
                return (f"not a release built by cloudtrail-pack: it holds {relative}, which its {SUMS} does not list; "
                        f"{CHOOSE}, or move {relative} out")
    if unreadable:
        e = unreadable[0]
        return f"cannot check that everything in it is the release's ({e.strerror or e}: {e.filename}); {CHOOSE}"
    return None
