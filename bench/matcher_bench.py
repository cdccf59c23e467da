#!/usr/bin/env python3
"""Record-rule evaluations per second: the compiled matcher (matcher.py) against the reference engine.

    .venv/bin/python bench/matcher_bench.py [--records 5000] [--reference-records 2000]

Records come from scan_bench.make_record (a realistic management-event mix). Rules are the pack's
detection rules and, if ../shared has it, SigmaHQ's AWS corpus. Each engine evaluates every rule on
every record; the reference is run as scan runs it (one SQLite table per batch, every query over it).
Both must agree on every verdict, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from scan_bench import ATTACKS, LOOKALIKES, MIX, SIGMAHQ, make_record  # noqa: E402


def records(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    weights = [w for *_, w in MIX]
    out = []
    for i in range(n):
        if i % 100 == 50:
            source, name, params = rng.choice(ATTACKS + LOOKALIKES)
            out.append(make_record(rng, 1767225600 + i, source, name, False, params))
        else:
            source, name, ro, _ = rng.choices(MIX, weights)[0]
            out.append(make_record(rng, 1767225600 + i, source, name, ro, None))
    for i, r in enumerate(out):
        if i % 7 == 3:
            r["userIdentity"] = {"type": "Root", "arn": f"arn:aws:iam::{r['recipientAccountId']}:root"}
        if i % 11 == 5:
            r["errorCode"] = "AccessDenied"
    return out


def measure(label: str, pack, recs: list[dict], ref_n: int) -> bool:
    from cloudtrail_pack.engine.matcher import MatcherUnsupported, compile_rule
    from cloudtrail_pack.engine.reference import ReferenceEngine

    rules = [r for r in pack.rules if not r.is_correlation]
    compiled = {}
    t = time.perf_counter()
    for r in rules:
        try:
            compiled[r.id] = compile_rule(r.rule)
        except MatcherUnsupported:
            pass
    compile_s = time.perf_counter() - t

    t = time.perf_counter()
    verdicts = {rid: [m(rec) for rec in recs] for rid, m in compiled.items()}
    matcher_s = time.perf_counter() - t
    matcher_rate = len(compiled) * len(recs) / matcher_s

    engine = ReferenceEngine(pack, rules)
    sample = recs[:ref_n]
    t = time.perf_counter()
    verdict = engine.run(sample)
    reference_s = time.perf_counter() - t
    reference_rate = len(engine.queries) * len(sample) / reference_s

    agree = all(
        verdicts[rid][i] == (rid in verdict.matches[str(rec["eventID"])])
        for rid in compiled for i, rec in enumerate(sample)
    )
    hits = sum(sum(v) for v in verdicts.values())
    print(f"{label}: {len(rules)} rules, {len(compiled)} compiled (in {compile_s * 1000:.0f} ms), {hits} matches")
    print(f"  matcher    {len(recs):>6} records  {matcher_rate:>12,.0f} record-rule evaluations/s"
          f"  ({len(recs) / matcher_s:,.0f} records/s through all {len(compiled)})")
    print(f"  reference  {len(sample):>6} records  {reference_rate:>12,.0f} record-rule evaluations/s"
          f"  ({len(sample) / reference_s:,.0f} records/s through all {len(engine.queries)})")
    print(f"  speed-up   {matcher_rate / reference_rate:>20.1f}x; verdicts agree: {agree}")
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--reference-records", type=int, default=2000)
    args = parser.parse_args()

    from cloudtrail_pack.attack import use_local_attack_data
    from cloudtrail_pack.pack import load_pack

    use_local_attack_data()
    recs = records(args.records)
    ok = measure("pack", load_pack(ROOT / "sigma"), recs, args.reference_records)
    if SIGMAHQ.is_dir():
        ok &= measure("SigmaHQ AWS", load_pack(SIGMAHQ), recs, args.reference_records)
    else:
        print(f"SigmaHQ AWS: skipped ({SIGMAHQ} not found)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
