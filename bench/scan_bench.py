#!/usr/bin/env python3
"""Benchmark `build.py scan` on a generated CloudTrail corpus, beside the baselines, in one run.

    .venv/bin/python bench/scan_bench.py [--events 200000] [--corpus /tmp/ct-bench] [--jobs 2]

The corpus (S3 delivery format, gzipped, a realistic mix of services, 2,000 events a file) is generated
once into --corpus and reused while its parameters are unchanged. Every file holds look-alikes that
must stay silent (IAM DeleteUserPolicy, ElastiCache DeleteUser, a user deleting its own access key), so
no file can be skipped by its event names; every 50th file holds a planted attack, and the scan must
report exactly those. Printed, in seconds and events per second:
  ISA-L gunzip floor  read + gunzip every file with ISA-L (the least any scan must do), --jobs processes
  plain loop          `json.load(gzip.open(f))` + compare two event names by hand, 1 process
  reference engine    the SQLite reference over every record (on a sample, it is slow)
  scan                the pack with --jobs and with 1 job; one rule; the pack plus SigmaHQ's AWS rules
                      (if ../shared has them); each also on no input at all (its fixed start-up cost)
Each scan runs in a fresh process and counts from its start (imports and loading the pack included, as
for the command); its peak RSS (the scanning process and its largest worker) is printed beside it, and
the ratios the issue sets targets for, each with whether it is met: scan / plain loop (>= 5x), floor /
scan (>= 40%), pack + SigmaHQ / pack (<= 2x). The machine's load average is printed before and after:
on a shared machine every figure is noisy.
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
# In every file: names that contain or equal a rule's event name, and self-service, none of which may fire.
EVERY_FILE = [
    ("iam.amazonaws.com", "DeleteUserPolicy", {"userName": "jdoe", "policyName": "inline"}),
    ("elasticache.amazonaws.com", "DeleteUser", {"userId": "cache-user"}),
    ("iam.amazonaws.com", "DeleteAccessKey", "self"),  # a user deleting its own key
]
EVENTS_PER_FILE = 2000
LAYOUT = 2  # bump when the generated corpus changes
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
        if params == "self":
            r = make_record(rng, start + slot * 300 / count, source, name, False, {"userName": "jdoe", "accessKeyId": "AKIAEXAMPLE"})
            r["userIdentity"] = {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "userName": "jdoe",
                                 "arn": f"arn:aws:iam::{r['recipientAccountId']}:user/jdoe", "accountId": r["recipientAccountId"]}
            records[slot] = r
            continue
        records[slot] = make_record(rng, start + slot * 300 / count, source, name, False, params)
        if kind == "attack":
            attack_ids.append(records[slot]["eventID"])
    path = Path(folder) / f"{ACCOUNTS[0]}_CloudTrail_us-east-1_{index:06d}.json.gz"
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(orjson.dumps({"Records": records}))
    return attack_ids, count


def generate(folder: Path, events: int, jobs: int) -> dict:
    meta_file = folder / ".corpus.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta["events"] == events and meta.get("layout") == LAYOUT:
            return meta
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = events // EVENTS_PER_FILE
    rng = random.Random(1531)
    tasks = []
    for index in range(files):
        plant = [("lookalike", x) for x in EVERY_FILE]
        if index % 50 == 7:  # one attack every 50 files, a look-alike beside it
            plant += [("attack", rng.choice(ATTACKS)), ("lookalike", rng.choice(LOOKALIKES))]
        tasks.append((str(folder), index, EVENTS_PER_FILE, rng.getrandbits(32), plant))
    attacks, total = [], 0
    with ProcessPoolExecutor(jobs) as pool:
        for ids, count in pool.map(_write_file, tasks, chunksize=8):
            attacks.extend(ids)
            total += count
    meta = {"events": total, "files": files, "attack_event_ids": sorted(attacks), "layout": LAYOUT}
    meta_file.write_text(json.dumps(meta))
    return meta


def corpus_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json.gz"))


def _isal_gunzip(path: Path) -> int:
    from isal import igzip

    return len(igzip.decompress(path.read_bytes()))


def gunzip_floor(files, jobs: int) -> float:
    t = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_isal_gunzip, files, chunksize=4))
    return time.perf_counter() - t


def plain_loop(files) -> tuple[float, int]:
    """The plainest loop a user would write: json.load(gzip.open(f)), two names compared by hand."""
    t, hits = time.perf_counter(), 0
    for f in files:
        with gzip.open(f) as fh:
            for record in json.load(fh)["Records"]:
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


def _scan_child(files_dir: str, rules_dir: str, rule_ids, jobs: int, started: float) -> None:
    """Runs in a fresh process: one scan, then its figures as JSON on stdout."""
    import resource

    from cloudtrail_pack.attack import use_local_attack_data
    from cloudtrail_pack.pack import load_pack
    from cloudtrail_pack.engine.results import Match, Summary
    from cloudtrail_pack.scan import scan

    use_local_attack_data()
    summary = Summary()
    t = started  # imports and loading the pack count, as they do for the command
    found, count = set(), 0
    for m in scan([files_dir], load_pack(Path(rules_dir)), rule_ids, jobs=jobs, summary=summary):
        count += 1  # matches are counted, not kept: the peak RSS is the scan's
        if isinstance(m, Match) and len(found) < 10000:
            found.add(m.eventID)
    seconds = time.perf_counter() - t
    kib = 1 if sys.platform != "darwin" else 1 / 1024
    print(json.dumps({
        "seconds": seconds, "parsed": summary.parsed, "skipped": len(summary.skipped),
        "found": sorted(found), "matches": count,
        "rss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 1024,
        "rss_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib / 1024,
        "rules": len(load_pack(Path(rules_dir)).rules),
    }))


def run_scan(files_dir: Path, rules_dir: Path, rule_ids, jobs: int) -> dict:
    import subprocess

    code = (f"import time; started = time.perf_counter(); import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); "
            f"sys.path.insert(0, {str(ROOT)!r}); import scan_bench; "
            f"scan_bench._scan_child({str(files_dir)!r}, {str(rules_dir)!r}, {rule_ids!r}, {jobs}, started)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def pack_plus_sigmahq(tmp: Path) -> Path | None:
    if not SIGMAHQ.is_dir():
        return None
    rules = tmp / "sigma"
    shutil.copytree(ROOT / "sigma", rules)
    shutil.copytree(SIGMAHQ, rules / "sigmahq", ignore=shutil.ignore_patterns("LICENSE", "*.txt"))
    return rules


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in the corpus (2,000 a file)")
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "cloudtrail-scan-bench")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reference-sample", type=int, default=5, help="files the reference engine is timed on")
    args = parser.parse_args()

    from cloudtrail_pack.attack import use_local_attack_data

    use_local_attack_data()
    t = time.perf_counter()
    meta = generate(args.corpus, args.events, args.jobs)
    files = corpus_files(args.corpus)
    size = sum(f.stat().st_size for f in files)
    events = meta["events"]
    print(f"load average before: {_load()}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"corpus: {events:,} events in {len(files)} gzipped S3 delivery files ({size / 2**20:.0f} MiB), look-alikes "
          f"in every file, {len(meta['attack_event_ids'])} planted attacks (ready in {time.perf_counter() - t:.1f}s)")

    def line(label, seconds, extra=""):
        print(f"  {label:<50} {seconds:8.2f} s  {events / seconds:>12,.0f} events/s{extra}")

    floor = gunzip_floor(files, args.jobs)
    line(f"ISA-L gunzip floor, {args.jobs} processes", floor)
    plain, _ = plain_loop(files)
    line("plain loop: json.load(gzip.open(f)), 1 process", plain)
    rate = reference_rate(files, args.reference_sample)
    print(f"  {'reference engine (SQLite), sample':<50} {'':>10}  {rate:>12,.0f} events/s")

    def scan_line(label, run):
        line(label, run["seconds"], f"  peak RSS {run['rss_self']:.0f} MiB (largest worker {run['rss_worker']:.0f} MiB)")

    expected = set(meta["attack_event_ids"])
    empty = Path(tempfile.mkdtemp(prefix="scan-bench-empty-"))
    (empty / "empty.json").write_text('{"Records": []}')
    pack = run_scan(args.corpus, ROOT / "sigma", None, args.jobs)
    scan_line(f"scan, the pack, {args.jobs} jobs ({pack['parsed']:,} records decoded)", pack)
    found = set(pack["found"])
    print(f"    matches: {len(found)}; exactly the planted attacks: {found == expected}; input skipped: {pack['skipped']}")
    single = run_scan(args.corpus, ROOT / "sigma", None, 1)
    scan_line("scan, the pack, 1 job", single)
    one = run_scan(args.corpus, ROOT / "sigma", ["aws_iam_user_deleted"], args.jobs)
    scan_line("scan, one rule (AWS IAM User Deleted)", one)
    start_pack = run_scan(empty, ROOT / "sigma", None, args.jobs)["seconds"]
    print(f"  {'start-up: scan, the pack, of one empty file':<50} {start_pack:8.2f} s")
    both = start_both = None
    with tempfile.TemporaryDirectory() as tmp:
        rules = pack_plus_sigmahq(Path(tmp))
        if rules is None:
            print(f"  scan, pack + SigmaHQ AWS rules: skipped ({SIGMAHQ} not found)")
        else:
            both = run_scan(args.corpus, rules, None, args.jobs)
            scan_line(f"scan, pack + SigmaHQ AWS ({both['rules']} rules, {both['parsed']:,} decoded)", both)
            print(f"    matches: {both['matches']:,} (SigmaHQ's AssumeRole misuse rule matches every AssumedRole "
                  "record whose session issuer is a role, as on a real trail)")
            start_both = run_scan(empty, rules, None, args.jobs)["seconds"]
            print(f"  {'start-up: scan, pack + SigmaHQ, of one empty file':<50} {start_both:8.2f} s")
    shutil.rmtree(empty, ignore_errors=True)
    print(f"load average after: {_load()} (shared machine: figures are noisy)")

    def ratio(label, value, text, met):
        print(f"  {label:<30} {text:>7}   target {'met' if met else 'NOT met'}")

    print("ratios (same run):")
    ratio("scan / plain loop", plain / pack["seconds"], f"{plain / pack['seconds']:.1f}x", plain / pack["seconds"] >= 5)
    print(f"  {'':<30} (>= 5x; {plain / single['seconds']:.1f}x with 1 job; 2 jobs / 1 job: "
          f"{single['seconds'] / pack['seconds']:.2f}x faster)")
    ratio("ISA-L gunzip floor / scan", floor / pack["seconds"], f"{floor / pack['seconds']:.0%}", floor / pack["seconds"] >= 0.4)
    print(f"  {'':<30} (>= 40%; without the start-up: {floor / max(pack['seconds'] - start_pack, 1e-9):.0%})")
    if both is not None:
        r = both["seconds"] / pack["seconds"]
        ratio("pack + SigmaHQ / pack", r, f"{r:.2f}x", r <= 2)
        print(f"  {'':<30} (<= 2x; without the start-ups: "
              f"{(both['seconds'] - start_both) / max(pack['seconds'] - start_pack, 1e-9):.2f}x)")
    return 0 if found == expected else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
