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
from dataclasses import dataclass
from pathlib import Path

from .pack import Pack, PackError, PackRule, shown
from .project import LOCK_COMMAND


def logic_hash(rule: PackRule) -> str:
    data = rule.rule.to_dict()
    logic = {k: data[k] for k in ("logsource", "detection", "correlation") if k in data}
    if "logsource" in logic:
        logic["logsource"] = {k: v for k, v in logic["logsource"].items() if k != "source"}
    text = json.dumps(logic, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LockEntry:
    rule_name: str
    version: int
    sha256: str


def _lock_path(pack: Pack, path: Path | None) -> Path:
    if path is not None:
        return path
    if pack.project is None:
        raise PackError(shown(pack.root), "no project for this rules folder: give the lock file")
    return pack.project.lock_file


def read_lock(path: Path) -> dict[str, LockEntry]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {rule_id: LockEntry(**entry) for rule_id, entry in raw.items()}
    except json.JSONDecodeError as e:
        raise PackError(shown(path), f"invalid JSON ({e.msg}); restore it from git or rebuild it with {LOCK_COMMAND}", e.lineno) from e
    except (AttributeError, TypeError) as e:
        raise PackError(shown(path), f"not a rule lock ({e}); restore it from git or rebuild it with {LOCK_COMMAND}") from e


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
    text = json.dumps({k: vars(v) for k, v in new.items()}, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return changes
