"""Rule versions, locked like Elastic's `version.lock.json`.

`version.lock.json` (repository root) records, per rule id, the hash of the rule's detection logic
(detection, logsource, correlation) and its version. A change of logic without a new lock entry fails the
build; `python build.py lock` records it and bumps the version. Metadata edits (description, references,
false positives) change no version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .pack import REPO_ROOT, Pack, PackError, PackRule

LOCK_FILE = REPO_ROOT / "version.lock.json"


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


def read_lock(path: Path = LOCK_FILE) -> dict[str, LockEntry]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PackError(path.name, f"invalid JSON ({e.msg}); restore it from git or rebuild it with `python build.py lock`", e.lineno) from e
    return {rule_id: LockEntry(**entry) for rule_id, entry in raw.items()}


def locked_versions(pack: Pack, path: Path = LOCK_FILE) -> dict[str, int]:
    """Each rule's version; raises PackError naming the rule whose logic changed without a lock update."""
    lock = read_lock(path)
    versions = {}
    for rule in pack.rules:
        entry = lock.get(rule.id)
        if entry is None:
            raise PackError(rule.path, f"rule {rule.title!r} ({rule.id}) is not in {path.name}; run `python build.py lock`")
        if entry.sha256 != logic_hash(rule):
            raise PackError(
                rule.path,
                f"the detection logic of {rule.title!r} ({rule.id}) changed but its version ({entry.version}) was not "
                f"bumped; run `python build.py lock` to record version {entry.version + 1}",
            )
        versions[rule.id] = entry.version
    return versions


def update_lock(pack: Pack, path: Path = LOCK_FILE) -> list[str]:
    """Record every rule's logic hash, bumping the version of changed rules; returns what changed."""
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
    text = json.dumps({k: vars(v) for k, v in new.items()}, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return changes
