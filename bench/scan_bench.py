#!/usr/bin/env python3
"""Benchmark `build.py scan` on a generated CloudTrail corpus, beside the baselines, in one run.

    .venv/bin/python bench/scan_bench.py [--events 1000000] [--corpus /tmp/ct-bench] [--jobs 2]

The corpus (S3 delivery format, gzipped, a realistic mix of services) is generated once into --corpus
and reused while its parameters are unchanged. It holds a known set of attack records (and look-alikes
that must stay silent); the scan must report exactly those. Printed, in events per second:
  gunzip floor        read + gunzip every file (the least any scan must do), 1 process and --jobs processes
  plain loop          gunzip + orjson-parse every record + compare two event names by hand (1 process)
  reference engine    the SQLite reference over every record (on a sample, it is slow)
  scan                the pack; one rule; the pack plus the SigmaHQ AWS corpus (if ../shared has it)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
SIGMAHQ = ROOT.parent / "shared" / "corpus" / "sigmahq-aws"

# (eventSource, eventName, readOnly, weight): a management-event mix dominated, as real trails are, by
# STS, EC2/ECS describe calls, KMS, CloudWatch and S3 control-plane reads.
MIX = [
    ("sts.amazonaws.com", "AssumeRole", True, 22),
    ("sts.amazonaws.com", "GetCallerIdentity", True, 6),
    ("kms.amazonaws.com", "Decrypt", True, 12),
    ("kms.amazonaws.com", "GenerateDataKey", True, 5),
    ("ec2.amazonaws.com", "DescribeInstances", True, 8),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces", True, 4),
    ("ec2.amazonaws.com", "CreateTags", False, 1),
    ("s3.amazonaws.com", "GetBucketAcl", True, 5),
    ("s3.amazonaws.com", "ListBuckets", True, 2),
    ("logs.amazonaws.com", "CreateLogStream", False, 4),
    ("monitoring.amazonaws.com", "GetMetricData", True, 5),
    ("lambda.amazonaws.com", "ListFunctions20150331", True, 2),
    ("ecs.amazonaws.com", "DescribeTasks", True, 3),
    ("iam.amazonaws.com", "GetUser", True, 2),
    ("iam.amazonaws.com", "ListUsers", True, 1),
    ("iam.amazonaws.com", "GetRole", True, 3),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", True, 2),
    ("iam.amazonaws.com", "DeleteUserPolicy", False, 1),
    ("iam.amazonaws.com", "CreateAccessKey", False, 1),
    ("signin.amazonaws.com", "ConsoleLogin", False, 1),
    ("organizations.amazonaws.com", "DescribeOrganization", True, 2),
    ("elasticache.amazonaws.com", "DescribeCacheClusters", True, 2),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True, 3),
    ("ssm.amazonaws.com", "GetParameter", True, 3),
]
# Attacks (rule must fire) and look-alikes (must stay silent), planted at known places.
ATTACKS = [
    ("iam.amazonaws.com", "DeleteUser", {"userName": "svc-backup"}),
    ("iam.amazonaws.com", "DeleteLoginProfile", {"userName": "jdoe"}),
    ("iam.amazonaws.com", "DeactivateMFADevice", {"userName": "jdoe", "serialNumber": "arn:aws:iam::111122223333:mfa/jdoe"}),
    ("organizations.amazonaws.com", "LeaveOrganization", None),
]
LOOKALIKES = [
    ("elasticache.amazonaws.com", "DeleteUser", {"userId": "cache-user"}),
    ("iam.amazonaws.com", "UpdateAccessKey", {"userName": "jdoe", "accessKeyId": "AKIAEXAMPLE", "status": "Active"}),
]
EVENTS_PER_FILE = 2000
ACCOUNTS = ["111122223333", "444455556666", "123456789012"]


def make_record(rng: random.Random, when: float, source: str, name: str, read_only: bool, params) -> dict:
    account = rng.choice(ACCOUNTS)
    role = rng.choice(["app-prod", "ci-deploy", "AWSReservedSSO_AdministratorAccess_0123456789abcdef"])
    session = f"i-{rng.getrandbits(56):014x}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{rng.getrandbits(64):016X}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": f"arn:aws:iam::{account}:role/{role}",
                                  "accountId": account, "userName": role},
                "attributes": {"creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when - 600)), "mfaAuthenticated": "false"},
            },
        },
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1" if source in ("iam.amazonaws.com", "organizations.amazonaws.com", "sts.amazonaws.com") else rng.choice(["us-east-1", "eu-west-1"]),
        "sourceIPAddress": f"203.0.113.{rng.randrange(1, 255)}",
        "userAgent": rng.choice(["aws-cli/2.17.3 md/awscrt#0.20.11 ua/2.0 os/linux#6.1", "Boto3/1.34.100 md/Botocore#1.34.100 ua/2.0 os/linux#5.10", "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22"]),
        "requestParameters": params if params is not None else ({"roleArn": f"arn:aws:iam::{account}:role/{role}", "roleSessionName": session} if name == "AssumeRole" else None),
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": source},
    }


def _write_file(args) -> tuple[list[str], int]:
    folder, index, count, seed, plant = args
    rng = random.Random(seed)
    weights = [w for *_, w in MIX]
    start = 1767225600 + index * 300  # 2026-01-01, one delivery file per five minutes
    records = []
    for i in range(count):
        source, name, ro, _ = rng.choices(MIX, weights)[0]
        records.append(make_record(rng, start + i * 300 / count, source, name, ro, None))
    attack_ids = []
    for kind, (source, name, params) in plant:
        slot = rng.randrange(count)
        records[slot] = make_record(rng, start + slot * 300 / count, source, name, False, params)
        if kind == "attack":
            attack_ids.append(records[slot]["eventID"])
    path = Path(folder) / f"{ACCOUNTS[0]}_CloudTrail_us-east-1_{index:06d}.json.gz"
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(orjson.dumps({"Records": records}))
    return attack_ids, count


def generate(folder: Path, events: int, jobs: int) -> dict:
    meta_file = folder / "corpus.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta["events"] == events:
            return meta
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = events // EVENTS_PER_FILE
    rng = random.Random(1531)
    tasks = []
    for index in range(files):
        plant = []
        if index % 50 == 7:  # one attack of each kind every 50 files, a look-alike beside it
            plant = [("attack", rng.choice(ATTACKS)), ("lookalike", rng.choice(LOOKALIKES))]
        tasks.append((str(folder), index, EVENTS_PER_FILE, rng.getrandbits(32), plant))
    attacks, total = [], 0
    with ProcessPoolExecutor(jobs) as pool:
        for ids, count in pool.map(_write_file, tasks, chunksize=8):
            attacks.extend(ids)
            total += count
    meta = {"events": total, "files": files, "attack_event_ids": sorted(attacks)}
    meta_file.write_text(json.dumps(meta))
    return meta


def corpus_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json.gz"))


def _gunzip(path: Path) -> int:
    return len(gzip.decompress(path.read_bytes()))


def gunzip_floor(files, jobs: int) -> float:
    t = time.perf_counter()
    if jobs == 1:
        for f in files:
            _gunzip(f)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_gunzip, files, chunksize=8))
    return time.perf_counter() - t


def plain_loop(files) -> tuple[float, int]:
    t, hits = time.perf_counter(), 0
    for f in files:
        for record in orjson.loads(gzip.decompress(f.read_bytes()))["Records"]:
            if (record["eventSource"], record["eventName"]) in (
                ("iam.amazonaws.com", "DeleteUser"),
                ("organizations.amazonaws.com", "LeaveOrganization"),
            ):
                hits += 1
    return time.perf_counter() - t, hits


def reference_rate(files, sample_files: int) -> float:
    from cloudtrail_pack.engine.reference import ReferenceEngine
    from cloudtrail_pack.pack import load_pack

    engine = ReferenceEngine(load_pack(ROOT / "sigma"))
    t, n = time.perf_counter(), 0
    for f in files[:sample_files]:
        records = orjson.loads(gzip.decompress(f.read_bytes()))["Records"]
        engine.run(records)
        n += len(records)
    return n / (time.perf_counter() - t)


def run_scan(files_dir: Path, rules_dir: Path, rule_ids, jobs: int):
    from cloudtrail_pack.pack import load_pack
    from cloudtrail_pack.scan import ScanSummary, scan

    summary = ScanSummary()
    t = time.perf_counter()  # loading the pack counts, as it does for the command
    matches = list(scan([files_dir], load_pack(rules_dir), rule_ids, jobs=jobs, summary=summary))
    return time.perf_counter() - t, matches, summary


def pack_plus_sigmahq(tmp: Path) -> Path | None:
    if not SIGMAHQ.is_dir():
        return None
    rules = tmp / "sigma"
    shutil.copytree(ROOT / "sigma", rules)
    shutil.copytree(SIGMAHQ, rules / "sigmahq", ignore=shutil.ignore_patterns("LICENSE", "*.txt"))
    return rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "cloudtrail-scan-bench")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reference-sample", type=int, default=20, help="files the reference engine is timed on")
    args = parser.parse_args()

    from cloudtrail_pack.attack import use_local_attack_data

    RULES_DIR = ROOT / "sigma"

    use_local_attack_data()
    t = time.perf_counter()
    meta = generate(args.corpus, args.events, args.jobs)
    files = corpus_files(args.corpus)
    size = sum(f.stat().st_size for f in files)
    events = meta["events"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"corpus: {events:,} events in {len(files)} gzipped S3 delivery files ({size / 2**20:.0f} MiB), "
          f"{len(meta['attack_event_ids'])} planted attacks (ready in {time.perf_counter() - t:.1f}s)")

    def line(label, seconds, n=events):
        print(f"  {label:<44} {seconds:8.2f} s  {n / seconds:>12,.0f} events/s")

    line("gunzip floor, 1 process", gunzip_floor(files, 1))
    line(f"gunzip floor, {args.jobs} processes", gunzip_floor(files, args.jobs))
    seconds, hits = plain_loop(files)
    line("plain loop: gunzip + orjson + 2 names, 1 proc", seconds)
    rate = reference_rate(files, args.reference_sample)
    print(f"  {'reference engine (SQLite), sample':<44} {'':>10}  {rate:>12,.0f} events/s")

    expected = set(meta["attack_event_ids"])
    seconds, matches, summary = run_scan(args.corpus, RULES_DIR, None, args.jobs)
    found = {m["eventID"] for m in matches if "eventID" in m}
    line(f"scan, the pack ({summary.parsed:,} records parsed)", seconds)
    print(f"    matches: {len(found)}; exactly the planted attacks: {found == expected}")
    seconds, matches, summary = run_scan(args.corpus, RULES_DIR, ["aws_iam_user_deleted"], args.jobs)
    line("scan, one rule (AWS IAM User Deleted)", seconds)
    with tempfile.TemporaryDirectory() as tmp:
        rules = pack_plus_sigmahq(Path(tmp))
        if rules is None:
            print(f"  scan, pack + SigmaHQ corpus: skipped ({SIGMAHQ} not found)")
        else:
            seconds, matches, summary = run_scan(args.corpus, rules, None, args.jobs)
            from cloudtrail_pack.pack import load_pack

            n = len(load_pack(rules).rules)
            line(f"scan, pack + SigmaHQ AWS ({n} rules, {summary.parsed:,} parsed)", seconds)
            print(f"    matches: {len(matches):,} (SigmaHQ's broad rules, e.g. AssumeRole misuse, fire on generated traffic)")
    return 0 if found == expected else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
