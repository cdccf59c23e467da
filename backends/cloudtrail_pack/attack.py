"""Offline MITRE ATT&CK data for pySigma.

pySigma downloads ATT&CK from GitHub on first use (tag validators, the Elastic rule formats) and caches it
in the user's home. The pack points it at the excerpt shipped in `data/attack/` instead, with a cache keyed
by the excerpt's content, so validation and builds never touch the network and never read a stale cache.
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path

from sigma.data import mitre_attack

EXCERPT = Path(__file__).parent / "data" / "attack" / "enterprise-attack-excerpt.json"


@cache
def use_local_attack_data() -> Path:
    """Make pySigma read ATT&CK from the shipped excerpt; returns the excerpt's path. Idempotent."""
    digest = hashlib.sha256(EXCERPT.read_bytes()).hexdigest()[:16]
    mitre_attack.set_cache_dir(str(Path(tempfile.gettempdir()) / f"cloudtrail-pack-attack-{digest}"))
    mitre_attack.set_url(str(EXCERPT))
    return EXCERPT
