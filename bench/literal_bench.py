#!/usr/bin/env python3
"""The multi-literal search `scan` runs before any JSON work (cloudtrail_pack/literal_search.py): the
candidates, timed on the same decompressed bytes in one run, beside ISA-L's gunzip of them.

    .venv/bin/python bench/literal_bench.py [--corpus /tmp/cloudtrail-scan-bench/compressible]

The corpus is bench/scan_bench.py's (run it once first). The literals are the pack's own
(`ScanPlan.search_literals`), found ignoring ASCII case as the rules compare event names:
  bytes.find          the block lower-cased once, then `find` per literal (the fallback without Hyperscan)
  re alternation      one `re` pattern `a|b|...` with IGNORECASE
  pyahocorasick       an Aho-Corasick automaton over the lower-cased block (if installed)
  Hyperscan           one database, HS_FLAG_CASELESS (what scan uses where its wheel exists)
Each line: seconds for the whole corpus, GB/s, and the hits found (`re` counts non-overlapping ones).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "cloudtrail-scan-bench" / "compressible")
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from isal import igzip

    from cloudtrail_pack.attack import use_local_attack_data
    from cloudtrail_pack.engine.plan import ScanPlan
    from cloudtrail_pack.literal_search import LiteralSearch, hyperscan
    from cloudtrail_pack.pack import load_pack

    use_local_attack_data()
    literals = ScanPlan.build(load_pack(ROOT / "sigma")).search_literals
    files = sorted(args.corpus.glob("*.json.gz"))[: args.files]
    if not files:
        raise SystemExit(f"{args.corpus}: no corpus; run bench/scan_bench.py first")
    t = time.perf_counter()
    blocks = [igzip.decompress(f.read_bytes()) for f in files]
    gunzip = time.perf_counter() - t
    size = sum(map(len, blocks))
    print(f"{len(literals)} literals, {size / 1e9:.2f} GB of JSON in {len(files)} files")

    def line(label, seconds, hits):
        print(f"  {label:<22} {seconds:7.3f} s  {size / seconds / 1e9:6.2f} GB/s  {hits} hits")

    line("ISA-L gunzip", gunzip, "-")
    candidates = [("bytes.find", lambda b: len(LiteralSearch(literals, use_hyperscan=False).hits(b)))]
    pattern = re.compile(b"|".join(re.escape(lit) for lit in literals), re.IGNORECASE)
    candidates.append(("re alternation", lambda b: len(pattern.findall(b))))
    try:
        import ahocorasick
    except ImportError:
        print("  pyahocorasick          not installed (pip install pyahocorasick)")
    else:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
        for lit in literals:
            automaton.add_word(lit.decode("latin-1"))
        automaton.make_automaton()
        candidates.append(("pyahocorasick", lambda b: sum(1 for _ in automaton.iter(b.lower().decode("latin-1")))))
    if hyperscan is not None:
        search = LiteralSearch(literals)
        candidates.append(("Hyperscan", lambda b: len(search.hits(b))))
    for label, run in candidates:
        t = time.perf_counter()
        hits = sum(run(b) for b in blocks)
        line(label, time.perf_counter() - t, hits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
