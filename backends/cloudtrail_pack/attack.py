"""Offline reference data for pySigma: MITRE ATT&CK, D3FEND and SigmaHQ's validator tables.

pySigma and the SigmaHQ validators download these from the internet on first use (tag, filename and
taxonomy validators; the Elastic rule formats' ATT&CK mapping) and cache them in the user's home. The
pack points them at the excerpts shipped in `data/` instead, with caches keyed by each excerpt's content,
so validation and builds never touch the network and never read a stale cache.
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path

from sigma.data import mitre_attack, mitre_d3fend
from sigma.validators.sigmahq.data import data_filename, data_taxonomy, data_windows_eventid, data_windows_provider

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
