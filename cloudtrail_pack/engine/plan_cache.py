"""Compiled scan plans kept between runs, so that `scan` starts without loading pySigma.

Building a plan loads every rule with pySigma and converts it with the SQLite backend: most of a small
scan's time. A plan depends only on the rules (and filters) given, the rules asked for, and the code
that compiles them, so it is stored under the SHA-256 of exactly that: the bytes of every rule and filter
file, the options, this package's and the CloudTrail pipelines' source files, the installed pySigma
distributions' RECORD files (which list the hash of every file they installed), and the Python version.
Any change to any of them is a new key, so a stored plan is never stale; old plans are simply not read
again (the 32 used last are kept). A plan that cannot be read (damaged, written by another version) is
rebuilt; a cache folder that cannot be written only costs the time.

The folder: $CLOUDTRAIL_PACK_CACHE, else $XDG_CACHE_HOME/cloudtrail-pack, else ~/.cache/cloudtrail-pack
(created private to the user: a plan is a pickle, read back by this user's scans only).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Iterable

from ..errors import source_files
from .plan import ScanPlan

FORMAT = b"cloudtrail-pack scan plan 1\n"  # bump when what a plan holds changes shape
KEEP = 32  # plans kept (the newest: a plan read is touched)


def cache_dir() -> Path:
    explicit = os.environ.get("CLOUDTRAIL_PACK_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cloudtrail-pack"


def plan_key(rules_dir: Path, filters_dir: Path | None, rule_ids: Iterable[str]) -> str | None:
    """The key of the plan these inputs build; None if a source cannot be read (the build says why)."""
    digest = hashlib.sha256(FORMAT)
    digest.update(repr((sys.implementation.name, sys.version_info[:3], list(rule_ids))).encode())
    try:
        for label, folder in (("rules", rules_dir), ("filters", filters_dir)):
            if folder is not None:
                _add_files(digest, label, Path(folder), source_files(Path(folder)))
        for label, folder in _code_folders():
            _add_files(digest, label, folder, sorted(folder.rglob("*.py")))
        for record in _distribution_records():
            _add_files(digest, "dist", record.parents[1], [record])
    except OSError:
        return None
    return digest.hexdigest()


def load(key: str) -> ScanPlan | None:
    path = cache_dir() / f"{key}.plan"
    try:
        with open(path, "rb") as f:
            plan = pickle.load(f)
        os.utime(path)  # used: the last to be pruned
    except Exception:  # absent, damaged, or from code that is gone: build it again
        return None
    return plan if isinstance(plan, ScanPlan) else None


def store(key: str, plan: ScanPlan) -> None:
    """Written to a temporary file and renamed into place: a reader never sees half a plan."""
    folder = cache_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".plan-")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, folder / f"{key}.plan")
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(folder)
    except OSError:
        pass  # no cache: the next scan builds the plan again


def _prune(folder: Path) -> None:
    """Only the KEEP plans used last stay: every edit of a rule or of the code leaves one behind."""
    plans = sorted(folder.glob("*.plan"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in plans[KEEP:]:
        old.unlink(missing_ok=True)


def _add_files(digest, label: str, root: Path, paths: Iterable[Path]) -> None:
    """Regular files only: anything else (a FIFO would block the read) raises, and the build names it."""
    for path in paths:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError(f"{path}: not a regular file")
        data = path.read_bytes()
        digest.update(f"{label}\0{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)


def _code_folders() -> list[tuple[str, Path]]:
    """This package and the CloudTrail pipelines (the SQLite backend's configuration is in this package)."""
    folders = [("code", Path(__file__).resolve().parents[1])]
    spec = find_spec("sigma.pipelines.cloudtrail")  # imports the namespace packages only, not the pipelines
    if spec is not None and spec.submodule_search_locations:
        folders += [("pipelines", Path(p).resolve()) for p in spec.submodule_search_locations]
    return folders


def _distribution_records() -> list[Path]:
    """The RECORD of every installed pySigma distribution (pySigma, its backends and validators)."""
    import sigma  # a namespace package: nothing is loaded

    found: set[Path] = set()
    for location in sigma.__path__:
        found.update(Path(location).parent.glob("pysigma*.dist-info/RECORD"))
    return sorted(found)
