"""Where any of a few literals occurs in a block of bytes, ignoring ASCII case: the test `scan` runs over
the decompressed bytes before any JSON work (records.py's fast path), so that only the records around a
hit are cut out and decoded.

Hyperscan (Intel's multi-literal/regex matcher, through the `hyperscan` bindings) scans once for every
literal at memory speed; where its wheel is not available (Linux on ARM), each literal is searched in
the lower-cased block with `bytes.find` (slower, same answers). Measured in bench/scan_bench.py.
"""

from __future__ import annotations

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
    """`hits(data, end)`: the end offsets, in order, of every occurrence of a literal in `data[:end]`
    (ASCII case ignored). Literals are given lower-cased."""

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

    def hits(self, data: bytes, end: int | None = None) -> list[int]:
        end = len(data) if end is None else end
        if self.engine == "hyperscan":
            found: list[int] = []
            add = found.append
            self._db.scan(memoryview(data)[:end], match_event_handler=lambda _i, _f, to, _fl, _c: add(to),
                          scratch=self._scratch)
            found.sort()
            return found
        low = data[:end].lower()
        found = []
        for lit in self.literals:
            at = low.find(lit)
            while at >= 0:
                found.append(at + len(lit))
                at = low.find(lit, at + 1)
        found.sort()
        return found
