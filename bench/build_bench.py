#!/usr/bin/env python3
"""Benchmark the release build against plain sigma-cli, in one run.

    .venv/bin/python bench/build_bench.py

Prints, per target and pack size, seconds per rule for the build's compilation (`compile_pack`: one
backend and one pass over the pack per target, as `build.py build` does) beside `sigma convert -t <backend> -p <pipeline>` on the same
rule files, plus the wall time of a whole `build.py build` of the pack. Pack sizes: the pack; the pack plus
SigmaHQ's AWS CloudTrail rules (read from ../shared/corpus/sigmahq-aws); and that set twice (copies with new
ids), to show how the cost grows. Rules a target cannot convert are counted on both sides (sigma-cli runs
with --skip-unsupported).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGMAHQ = ROOT.parent / "shared" / "corpus" / "sigmahq-aws"
SIGMA_CLI = Path(sys.executable).parent / "sigma"


def rules_folder(tmp: Path, copies: int) -> Path:
    """The pack's rules, plus `copies` copies of the SigmaHQ corpus with fresh ids and names."""
    folder = tmp / f"sigma-{copies}"
    shutil.copytree(ROOT / "sigma", folder)
    for n in range(copies):
        dest = folder / f"sigmahq-{n}"
        dest.mkdir()
        for src in sorted(SIGMAHQ.glob("*.yml")):
            text = src.read_text(encoding="utf-8")
            if n:  # a copy: every rule id and name must stay unique within the pack
                text = re.sub(r"(?m)^id: .*$", f"id: {uuid.uuid5(uuid.NAMESPACE_URL, f'{src.name}/{n}')}", text)
                text = re.sub(r"(?m)^name: (.*)$", rf"name: \1_{n}", text)
            (dest / src.name).write_text(text, encoding="utf-8")
    return folder


def time_build_compile(folder: Path):
    from cloudtrail_pack.compilation import Refusal, compile_pack
    from cloudtrail_pack.pack import load_pack
    from cloudtrail_pack.registry import TARGETS

    out = {}
    for target in TARGETS.values():
        errors = []
        t = time.perf_counter()
        pack = load_pack(folder)  # parsing counts, as it does for sigma-cli
        compiled = compile_pack(pack, [(target, "default")], on_error=lambda rule, _, e: errors.append(rule.id))
        refused = sum(isinstance(r, Refusal) for r in compiled.results.values())
        out[target.name] = (time.perf_counter() - t, refused + len(errors))
    return len(pack.rules), out


def time_sigma_cli(folder: Path):
    from cloudtrail_pack.registry import TARGETS

    out = {}
    for target in TARGETS.values():
        t = time.perf_counter()
        run = subprocess.run(
            [str(SIGMA_CLI), "convert", "-t", target.backend, "-p", target.pipeline, "--skip-unsupported", str(folder)],
            capture_output=True, text=True,
        )
        out[target.name] = (time.perf_counter() - t, run.returncode)
    return out


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from cloudtrail_pack.attack import use_local_attack_data

    use_local_attack_data()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        t = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--dist", str(dist)], check=True, capture_output=True)
        seconds = time.perf_counter() - t
        rules = len(json.loads((dist / "manifest.json").read_text())["rules"])
        print(f"build.py build of the pack ({rules} rules, every artifact, checks): {seconds:.2f} s wall\n")
        sizes = [0, 1, 2] if SIGMAHQ.is_dir() else [0]
        if not SIGMAHQ.is_dir():
            print(f"({SIGMAHQ} not found: only the pack is measured)")
        print(f"{'rules':>5}  {'target':<11} {'build s/rule':>12} {'sigma-cli s/rule':>16} {'sigma-cli total s':>17}  not converted (build; sigma-cli exit)")
        for copies in sizes:
            folder = rules_folder(Path(tmp), copies)
            n, ours = time_build_compile(folder)
            cli = time_sigma_cli(folder)
            for name, (seconds, failed) in ours.items():
                cli_seconds, code = cli[name]
                print(f"{n:>5}  {name:<11} {seconds / n:>12.4f} {cli_seconds / n:>16.4f} {cli_seconds:>17.2f}  {failed}; {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
