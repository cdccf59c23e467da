#!/usr/bin/env python3
"""The pack's command line: check the rules, lock their versions, convert one rule, build dist/, scan logs.

    python build.py --help
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _pack(args):
    from cloudtrail_pack.attack import use_local_attack_data
    from cloudtrail_pack.pack import load_pack

    use_local_attack_data()
    return load_pack(Path(args.rules_dir))


def cmd_build(args) -> int:
    from cloudtrail_pack.release import build

    pack = _pack(args)
    result = build(pack, Path(args.dist))
    print_matrix(pack, result.matrix)
    print(f"\nbuilt {len(result.files)} files into {args.dist}/ (pack version {result.version})")
    return 0


def cmd_check(args) -> int:
    from cloudtrail_pack.lock import locked_versions
    from cloudtrail_pack.release import compile_matrix
    from cloudtrail_pack.validation import findings

    pack = _pack(args)
    problems = findings(pack)
    for line in problems:
        print(line)
    if problems:
        return 1
    matrix = compile_matrix(pack)
    locked_versions(pack)
    print_matrix(pack, matrix)
    print(f"\n{len(pack.rules)} rules: rule checks clean, versions locked, every target compiles")
    return 0


def cmd_lock(args) -> int:
    from cloudtrail_pack.lock import LOCK_FILE, update_lock

    changes = update_lock(_pack(args))
    for line in changes:
        print(line)
    print(f"{LOCK_FILE.name}: {len(changes)} change(s)")
    return 0


def cmd_convert(args) -> int:
    from cloudtrail_pack.targets import compile_rules

    pack = _pack(args)
    rule = pack.by_id(args.rule) if not Path(args.rule).is_file() else _rule_from_file(pack, Path(args.rule))
    for queries in compile_rules(pack, args.target, args.format, rules=[rule]).values():
        for query in queries:
            print(query if isinstance(query, str) else json.dumps(query, indent=2, sort_keys=True))
    return 0


def cmd_scan(args) -> int:
    """Exit 0: all input read; 2: some input was skipped (listed on stderr); 1: usage error."""
    from cloudtrail_pack.scan_cli import run_scan

    return run_scan(args)


def _rule_from_file(pack, path: Path):
    matches = [r for r in pack.rules if (pack.root.parent / r.path).resolve() == path.resolve()]
    if not matches:
        raise SystemExit(f"{path}: not a rule of the pack in {pack.root}")
    return matches[0]


def print_matrix(pack, matrix) -> None:
    from cloudtrail_pack.targets import TARGETS

    names = list(TARGETS)
    width = max(len(r.title) for r in pack.rules)
    print((f"{'rule':<{width}}  {'level':<8}" + "".join(f"{n:<12}" for n in names)).rstrip())
    for r in pack.rules:
        cells = "".join(f"{('ok' if matrix[r.id][n].ok else 'n/a'):<12}" for n in names)
        print(f"{r.title:<{width}}  {r.level:<8}{cells}".rstrip())
    notes = {(n, c.reason) for r in pack.rules for n, c in matrix[r.id].items() if not c.ok}
    for n, reason in sorted(notes):
        print(f"  n/a {n}: {reason}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rules-dir", default=str(Path(__file__).parent / "sigma"), help="rules folder (default: sigma/)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="check, compile every rule for every target, write dist/ atomically")
    p.add_argument("--dist", default=str(Path(__file__).parent / "dist"), help="output folder (default: dist/)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", help="run the rule checks, the version lock and every compilation; write nothing")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lock", help="record rule logic hashes in version.lock.json, bumping changed rules")
    p.set_defaults(func=cmd_lock)

    from cloudtrail_pack.targets import TARGETS

    p = sub.add_parser("convert", help="print one rule compiled for one target")
    p.add_argument("rule", help="rule id, name, or path of its file")
    p.add_argument("target", choices=sorted(TARGETS))
    p.add_argument("--format", default="default", help="backend output format (default: default)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("scan", help="backtest: run every rule (correlations too) over CloudTrail files on disk")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive): .json, .json.gz, JSON lines")
    p.add_argument("--rules", action="append", metavar="ID", help="only this rule (id or name); repeatable")
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl", help="stdout format (default: jsonl)")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per core)")
    p.set_defaults(func=cmd_scan)

    args = parser.parse_args(argv)
    from cloudtrail_pack.pack import PackError

    try:
        return args.func(args)
    except PackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
