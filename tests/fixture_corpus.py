"""The fixture corpus as tests see it: every file named in fixtures/manifest.yml, its records, and what
the manifest says must match. The manifest is the only source of truth; nothing is inferred from rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cloudtrail_pack.records import read_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = FIXTURES / "manifest.yml"


@dataclass(frozen=True)
class ExpectedAlert:
    rule_id: str
    group: tuple  # ((field, lower-cased value), ...)
    events: frozenset[str]
    #: ((target, reason), ...): targets that knowingly do not raise this alert (the alert's `differences:`)
    differences: tuple = ()

    def expected_in(self, target: str | None) -> bool:
        """Whether `target` must raise this alert (None: the reference, which always must)."""
        return target is None or all(t != target for t, _ in self.differences)


@dataclass(frozen=True)
class KnownDifference:
    """A target that knowingly decides a record otherwise than the reference engine for these rules, and why
    (declared under a file's `differences:` in the manifest; the target's tests assert exactly the opposite)."""

    target: str
    rules: frozenset[str]
    reason: str


@dataclass
class FixtureFile:
    path: Path  # relative to fixtures/
    format: str
    description: str
    sources: list[str]
    records: list[dict]
    expect: dict[str, frozenset[str]]  # eventID -> rule ids that must match
    alerts: set[ExpectedAlert] = field(default_factory=set)
    differences: dict[str, list[KnownDifference]] = field(default_factory=dict)  # eventID -> declared differences

    def __str__(self) -> str:
        return str(self.path)

    def expected_for(self, target: str, rule_id: str, reference: frozenset[str] | set[str]) -> frozenset[str]:
        """The eventIDs `target` must match for `rule_id`: the reference's, each declared difference reversed."""
        flipped = {
            event_id
            for event_id, known in self.differences.items()
            for d in known
            if d.target == target and rule_id in d.rules
        }
        return frozenset(set(reference) ^ flipped)


def load_manifest() -> list[FixtureFile]:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    files = []
    for rel, entry in sorted(manifest["files"].items()):
        parsed = read_file(FIXTURES / rel)
        alerts = {
            ExpectedAlert(
                str(a["rule"]),
                tuple(sorted((k, str(v).lower()) for k, v in a["group"].items())),
                frozenset(map(str, a["events"])),
                tuple(sorted((str(t), str(reason)) for t, reason in (a.get("differences") or {}).items())),
            )
            for a in entry.get("alerts") or []
        }
        files.append(
            FixtureFile(
                path=Path(rel),
                format=entry["format"],
                description=entry.get("description", ""),
                sources=list(entry.get("sources") or []),
                records=parsed.records,
                expect={str(k): frozenset(map(str, v or [])) for k, v in entry["expect"].items()},
                alerts=alerts,
                differences={
                    str(event_id): [
                        KnownDifference(str(target), frozenset(map(str, d["rules"])), str(d["reason"]))
                        for target, d in by_target.items()
                    ]
                    for event_id, by_target in (entry.get("differences") or {}).items()
                },
            )
        )
    return files


FIXTURE_FILES: list[FixtureFile] = load_manifest() if MANIFEST.exists() else []


def declared_differences(target: str) -> dict[str, frozenset[str]]:
    """eventID -> the rules whose verdict `target` knowingly reverses there, over the whole corpus (the manifest's
    `differences:`), for tests that run every fixture record at once."""
    out: dict[str, frozenset[str]] = {}
    for f in FIXTURE_FILES:
        for event_id, known in f.differences.items():
            rules = frozenset().union(*(d.rules for d in known if d.target == target))
            if rules:
                out[event_id] = rules
    return out
