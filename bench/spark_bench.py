#!/usr/bin/env python3
"""Spark in local mode (`scan --engine spark`) beside the default engine, on the same generated corpus.

    .venv/bin/python bench/spark_bench.py [--sizes 20x500,100x2000,250x2000] [--corpus /tmp/ct-spark-bench]
                                          [--master local[*]] [--jobs N]

Corpora come from bench/scan_bench.py's generator (S3 delivery files, gzipped, a realistic mix of services,
look-alikes in every file, a planted attack every 50th file), one folder per size `FILESxEVENTS` (files ×
events per file), generated once and reused. For each size both engines scan the folder in a fresh
process (the default engine with --jobs workers, Spark with `master`); printed: wall seconds including
start-up (the JVM for Spark), events per second, and whether both reported exactly the same matches.
The last line names the smallest size where Spark was faster, if any. Figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import scan_bench  # noqa: E402  (the corpus generator)

CHILD = """
import json, sys, time
start = time.perf_counter()
from cloudtrail_pack.pack import load_pack
engine, folder, jobs, master = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
pack = load_pack({rules!r})
if engine == "spark":
    from cloudtrail_pack.engine.spark import scan
    matches = [m.as_dict() for m in scan([folder], pack, master=master)]
else:
    from cloudtrail_pack.scan import scan
    matches = [m.as_dict() for m in scan([folder], pack, jobs=jobs)]
print(json.dumps({{"seconds": time.perf_counter() - start, "matches": matches}}))
"""


def generate(base: Path, files: int, per_file: int, jobs: int) -> tuple[Path, dict]:
    folder = base / f"{files}x{per_file}"
    scan_bench.EVENTS_PER_FILE = per_file  # the generator's file size (read by generate() in this process)
    meta = scan_bench.generate(folder, files * per_file, jobs)
    return folder, meta


def run(engine: str, folder: Path, jobs: int, master: str) -> dict:
    code = CHILD.format(rules=str(ROOT / "sigma"))
    out = subprocess.run(
        [sys.executable, "-c", code, engine, str(folder), str(jobs), master],
        capture_output=True, text=True, cwd=ROOT,
    )
    if out.returncode != 0:
        last = [line for line in out.stderr.splitlines() if "Error" in line or "Exception" in line][-3:]
        raise SystemExit(f"{engine} scan of {folder} failed (exit {out.returncode}): " + " | ".join(last))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20x500,100x2000,250x2000", help="FILESxEVENTS, comma-separated")
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/ct-spark-bench"))
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"default engine --jobs {args.jobs}, Spark {args.master}; figures are noisy on a shared machine")
    print(f"{'files x events':>16} {'events':>10} {'default s':>10} {'ev/s':>10} {'spark s':>10} {'ev/s':>10}  same")
    spark_wins = None
    for size in args.sizes.split(","):
        files, per_file = (int(x) for x in size.lower().split("x"))
        started = time.perf_counter()
        folder, meta = generate(args.corpus, files, per_file, args.jobs)
        if time.perf_counter() - started > 1:
            print(f"  (generated {folder} in {time.perf_counter() - started:.1f}s)")
        default = run("default", folder, args.jobs, args.master)
        spark = run("spark", folder, args.jobs, args.master)
        same = default["matches"] == spark["matches"]
        events = meta["events"]
        print(f"{size:>16} {events:>10,} {default['seconds']:>10.2f} {events / default['seconds']:>10,.0f} "
              f"{spark['seconds']:>10.2f} {events / spark['seconds']:>10,.0f}  {same}")
        if spark_wins is None and spark["seconds"] < default["seconds"]:
            spark_wins = size
    print(f"Spark local faster from: {spark_wins}" if spark_wins else "Spark local was not faster at these sizes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
