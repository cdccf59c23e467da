"""Rule versions, locked like Elastic's `version.lock.json`.

`version.lock.json` (project root) records, per rule id, the hash of the rule's detection logic
(detection, logsource, correlation) and its version. A change of logic without a new lock entry fails the
build; `lock` records it and bumps the version. Metadata edits (description, references, false
positives) change no version. A locked rule that is no longer in the pack (its file deleted or emptied)
also fails the build: a release never loses a rule silently; `lock` retires it on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

import msgspec

from .pack import Pack, PackError, PackRule, read_source, shown
from .project import LOCK_COMMAND


def logic_hash(rule: PackRule) -> str:
    data = rule.rule.to_dict()
    logic = {k: data[k] for k in ("logsource", "detection", "correlation") if k in data}
    if "logsource" in logic:
        logic["logsource"] = {k: v for k, v in logic["logsource"].items() if k != "source"}
    text = json.dumps(logic, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LockEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One rule's entry, the lock's schema: a version that goes into every artifact must be a whole number."""

    rule_name: Annotated[str, msgspec.Meta(min_length=1)]
    version: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


#: A lock's key: a rule id as pySigma writes it (a UUID in lower case).
RULE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def recovery(path: Path) -> str:
    """How to get a working lock back; both ways work as written (tests follow them)."""
    return (f"restore it from version control (git checkout -- {shown(path)}), or delete it and run {LOCK_COMMAND} "
            "to record every rule again at version 1")


def _lock_path(pack: Pack, path: Path | None) -> Path:
    if path is not None:
        return path
    if pack.project is None:
        raise PackError(shown(pack.root), "no project for this rules folder: give the lock file")
    return pack.project.lock_file


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} appear(s) twice (a merge left two entries?)")
    return dict(pairs)


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The lock, checked against its schema: PackError naming the file, the rule id and the key at fault."""
    if not os.path.lexists(path):
        return {}
    where, text = shown(path), read_source(path, "version lock")
    try:
        raw = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise PackError(where, f"invalid JSON ({e.msg}); {recovery(path)}", e.lineno) from e
    except ValueError as e:
        raise PackError(where, f"not a version lock: rule id {e}; {recovery(path)}") from e
    if not isinstance(raw, dict):
        raise PackError(where, f"not a version lock: expected an object of rule ids, got {type(raw).__name__}; {recovery(path)}")
    lock = {}
    for rule_id, entry in raw.items():
        if not RULE_ID.fullmatch(rule_id):
            raise PackError(where, f"not a version lock: key {rule_id!r} is not a rule id (a lower-case UUID); {recovery(path)}")
        try:
            lock[rule_id] = msgspec.convert(entry, LockEntry)
        except msgspec.ValidationError as e:
            raise PackError(where, f"not a version lock: rule {rule_id}: {e}; {recovery(path)}") from e
    return lock


def write_lock(path: Path, lock: dict[str, LockEntry]) -> None:
    """Write the lock whole or not at all (a new file renamed over the old one): an interrupted `lock` never
    leaves half a lock behind."""
    text = json.dumps({k: msgspec.structs.asdict(v) for k, v in lock.items()}, indent=2, sort_keys=True) + "\n"
    target = Path(os.path.realpath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as e:
        raise PackError(shown(path), f"cannot write the version lock ({e.strerror or e}); it is unchanged") from e


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def locked_versions(pack: Pack, path: Path | None = None) -> dict[str, int]:
    """Each rule's version; raises PackError naming the rule whose logic changed without a lock update,
    or the locked rule that is missing from the pack."""
    path = _lock_path(pack, path)
    lock = read_lock(path)
    versions = {}
    for rule in pack.rules:
        entry = lock.get(rule.id)
        if entry is None:
            raise PackError(shown(rule.source), f"rule {rule.title!r} ({rule.id}) is not in {path.name}; run {LOCK_COMMAND}")
        if entry.sha256 != logic_hash(rule):
            raise PackError(
                shown(rule.source),
                f"the detection logic of {rule.title!r} ({rule.id}) changed but its version ({entry.version}) was not "
                f"bumped; run {LOCK_COMMAND} to record version {entry.version + 1}",
            )
        versions[rule.id] = entry.version
    gone = sorted(set(lock) - {r.id for r in pack.rules})
    if gone:
        names = ", ".join(f"{lock[i].rule_name} ({i})" for i in gone)
        raise PackError(
            shown(path),
            f"locked rule(s) missing from {shown(pack.root)}: {names}; restore the rule file, or run {LOCK_COMMAND} "
            "to retire the rule, and say so in the changelog",
        )
    return versions


def update_lock(pack: Pack, path: Path | None = None) -> list[str]:
    """Record every rule's logic hash, bumping the version of changed rules and dropping retired ones;
    returns what changed."""
    path = _lock_path(pack, path)
    lock = read_lock(path)
    changes, new = [], {}
    for rule in sorted(pack.rules, key=lambda r: r.id):
        digest, entry = logic_hash(rule), lock.get(rule.id)
        if entry is None:
            new[rule.id] = LockEntry(rule.name, 1, digest)
            changes.append(f"{rule.title}: new, version 1")
        elif entry.sha256 != digest:
            new[rule.id] = LockEntry(rule.name, entry.version + 1, digest)
            changes.append(f"{rule.title}: version {entry.version} -> {entry.version + 1}")
        else:
            new[rule.id] = LockEntry(rule.name, entry.version, digest)
    for rule_id in sorted(set(lock) - set(new)):
        changes.append(f"{lock[rule_id].rule_name}: retired (was version {lock[rule_id].version})")
    if new != lock or not path.exists():
        write_lock(path, new)
    return changes
