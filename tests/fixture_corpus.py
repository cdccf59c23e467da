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


@dataclass
class FixtureFile:
    path: Path  # relative to fixtures/
    format: str
    description: str
    sources: list[str]
    records: list[dict]
    expect: dict[str, frozenset[str]]  # eventID -> rule ids that must match
    alerts: set[ExpectedAlert] = field(default_factory=set)

    def __str__(self) -> str:
        return str(self.path)


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
            )
        )
    return files


FIXTURE_FILES: list[FixtureFile] = load_manifest() if MANIFEST.exists() else []
