"""Offline reference data for pySigma (MITRE ATT&CK, D3FEND, SigmaHQ's validator tables), and what a
rule's ATT&CK tags mean, read once for every artifact that shows them.

pySigma and the SigmaHQ validators download these from the internet on first use (tag, filename and
taxonomy validators; the Elastic rule formats' ATT&CK mapping) and cache them in the user's home. The
pack points them at the excerpts shipped in `data/` instead, with caches keyed by each excerpt's content,
so validation and builds never touch the network and never read a stale cache.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sigma.data import mitre_attack, mitre_d3fend
from sigma.validators.sigmahq.data import data_filename, data_taxonomy, data_windows_eventid, data_windows_provider

from .errors import PackError

DATA = Path(__file__).parent / "data"
EXCERPT = DATA / "attack" / "enterprise-attack-excerpt.json"
_SOURCES = (
    (mitre_attack, EXCERPT),
    (mitre_d3fend, DATA / "d3fend" / "d3fend-excerpt.json"),
    (data_filename, DATA / "sigmahq" / "sigmahq_filename.json"),
    (data_taxonomy, DATA / "sigmahq" / "sigmahq_taxonomy.json"),
    (data_windows_eventid, DATA / "sigmahq" / "sigmahq_windows_eventid.json"),
    (data_windows_provider, DATA / "sigmahq" / "sigmahq_windows_provider.json"),
)


@cache
def use_local_attack_data() -> Path:
    """Point pySigma at the shipped excerpts (idempotent); returns the ATT&CK excerpt's path."""
    for module, path in _SOURCES:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        module.set_cache_dir(str(Path(tempfile.gettempdir()) / f"cloudtrail-pack-{path.stem}-{digest}"))
        module.set_url(str(path))
    return EXCERPT


_TECHNIQUE = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$")


@dataclass(frozen=True)
class AttackRef:
    """A technique a rule is tagged with, and the tactic it is tagged under (None: every tactic)."""

    technique_id: str  # T1531, T1098.001
    technique_name: str  # "" when the technique is not in the shipped ATT&CK excerpt
    tactic: str | None  # ATT&CK tactic short name, e.g. "defense-evasion"

    @property
    def url(self) -> str:
        return "https://attack.mitre.org/techniques/" + self.technique_id.replace(".", "/") + "/"

    def label(self) -> str:
        name = f" {self.technique_name}" if self.technique_name else ""
        tactic = f" ({self.tactic})" if self.tactic else ""
        return f"{self.technique_id}{name}{tactic}"


def attack_data():
    """(ATT&CK version, tactic short names, technique names by id, tactics by technique id) of the excerpt."""
    use_local_attack_data()
    return (
        mitre_attack.mitre_attack_version,
        set(mitre_attack.mitre_attack_tactics.values()),
        dict(mitre_attack.mitre_attack_techniques),
        {k: list(v) for k, v in mitre_attack.mitre_attack_techniques_tactics_mapping.items()},
    )


def attack_refs(rule) -> list[AttackRef]:
    """The (technique, tactic) pairs a rule's `attack.*` tags stand for, sorted."""
    _, tactics, techniques, mapping = attack_data()
    tags = [t.name.lower() for t in (rule.rule.tags or []) if t.namespace.lower() == "attack"]
    rule_tactics = sorted({t for t in tags if t in tactics})
    refs: set[AttackRef] = set()
    for tag in tags:
        m = _TECHNIQUE.match(tag)
        if not m:
            continue
        tid = "T" + m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
        known = mapping.get(tid)
        fitting = [t for t in rule_tactics if known is None or t in known]
        for tactic in fitting or [None]:
            refs.add(AttackRef(tid, techniques.get(tid, ""), tactic))
    return sorted(refs, key=lambda r: (r.technique_id, r.tactic or ""))


def data_cache_error(e: Exception) -> PackError:
    """pySigma keeps its ATT&CK and SigmaHQ data in SQLite caches in the temporary folder (attack.py), and
    writes them on first use in each process: a full disk there shows up as an SQLite or OS error."""
    return PackError(
        Path(tempfile.gettempdir()),
        f"cannot write pySigma's data cache here ({getattr(e, 'strerror', None) or e}); free some space, "
        "or point TMPDIR at a folder with room",
    )
