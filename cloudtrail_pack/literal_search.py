"""Where any of a few literals occurs in a block of bytes, ignoring ASCII case: the test `scan` runs over
the decompressed bytes before any JSON work (records.py's fast path), so that only the records around a
hit are cut out and decoded.

Hyperscan (Intel's multi-literal/regex matcher, through the `hyperscan` bindings) scans once for every
literal at memory speed; where its wheel is not available (Linux on ARM), each literal is searched in
the lower-cased block with `bytes.find` (slower, same answers). Measured in bench/scan_bench.py.
"""

from __future__ import annotations

import re
from typing import Iterable

try:
    import hyperscan
except ImportError:  # no wheel for this platform: the bytes.find fallback below
    hyperscan = None

#: Characters outside ASCII whose `str.lower()` holds an ASCII letter (İ -> "i̇", the Kelvin sign -> "k"):
#: an event name spelt with one lower-cases to an ASCII name, so their UTF-8 bytes are literals too.
#: tests/test_literal_search.py checks this against the running Python's Unicode tables.
FOLDS_TO_ASCII = ("\u0130", "\u212a")


class LiteralSearch:
    """Every occurrence of a literal in a block of bytes, ASCII case ignored (literals given lower-cased)."""

    def __init__(self, literals: Iterable[bytes], use_hyperscan: bool = True):
        self.literals = tuple(sorted(set(literals)))
        if not self.literals or any(not lit for lit in self.literals):
            raise ValueError("literal search needs non-empty literals")
        self.engine = "hyperscan" if hyperscan is not None and use_hyperscan else "bytes.find"
        if self.engine == "hyperscan":
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(
                expressions=[b"".join(b"\\x%02x" % c for c in lit) for lit in self.literals],
                ids=list(range(len(self.literals))),
                flags=hyperscan.HS_FLAG_CASELESS,
            )
            self._scratch = hyperscan.Scratch(self._db)

    def __getstate__(self):  # a compiled database does not pickle: workers compile their own
        return {"literals": self.literals, "engine": self.engine}

    def __setstate__(self, state):
        self.__init__(state["literals"], state["engine"] == "hyperscan")

    def hits(self, data: bytes, start: int = 0, end: int | None = None) -> list[int]:
        """The end offsets (in `data`), in order, of every literal found in data[start:end]."""
        end = len(data) if end is None else end
        if self.engine == "hyperscan":
            found: list[int] = []
            add = found.append
            self._db.scan(memoryview(data)[start:end], match_event_handler=lambda _i, _f, to, _fl, _c: add(start + to),
                          scratch=self._scratch)
            found.sort()
            return found
        low = data[start:end].lower()
        found = []
        for lit in self.literals:
            at = low.find(lit)
            while at >= 0:
                found.append(start + at + len(lit))
                at = low.find(lit, at + 1)
        found.sort()
        return found


# ---- the literals a record's raw bytes hold if a rule can want its event name --------------------------
#
# The fast path of records.py cuts out and decodes only the records whose bytes hold one of these,
# ignoring ASCII case. Sound for event names of letters, digits and `_.:-` only (JSON never escapes those,
# so a name is in the bytes verbatim unless spelt with `\u` escapes, a literal of its own, or with a
# character whose lower case is ASCII, FOLDS_TO_ASCII, literals too); any other name: no fast path.
_PLAIN_NAME = re.compile(r"[a-z0-9_.:-]+")


def search_literals(event_names: frozenset[str] | None) -> tuple[bytes, ...] | None:
    if not event_names or not all(_PLAIN_NAME.fullmatch(n) for n in event_names):
        return None
    folds = (c.encode() for c in FOLDS_TO_ASCII)
    return tuple(sorted({n.encode("ascii") for n in event_names} | {b"\\u"} | set(folds)))


class RawTests:
    """The rules (ids) whose required literals a record's lower-cased bytes hold; every rule if the bytes
    hold an escape or a non-ASCII byte (json.dumps escapes it). Each distinct run is searched once per
    record, and the answer is kept per set of runs found (there are few)."""

    def __init__(self, literals: dict[str, tuple[frozenset[bytes], ...]]):
        self.literals = literals
        self.everything = frozenset(literals)
        self.runs = tuple(sorted({r for alts in literals.values() for alt in alts for r in alt}))
        self._known: dict[tuple[bool, ...], frozenset[str]] = {}

    def __call__(self, low: bytes) -> frozenset[str]:
        if b"\\" in low or not low.isascii():
            return self.everything
        found = tuple([run in low for run in self.runs])
        rules = self._known.get(found)
        if rules is None:
            present = {run for run, hit in zip(self.runs, found) if hit}
            rules = self._known[found] = frozenset(
                rule_id for rule_id, alts in self.literals.items() if any(alt <= present for alt in alts)
            )
        return rules
