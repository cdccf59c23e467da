"""Records and files for the scan tests."""

from __future__ import annotations

import gzip
import re
import shlex
from pathlib import Path

import msgspec

DELETE_USER = "0b40a563-9611-430c-ac03-6536096733f9"  # AWS IAM User Deleted
MASS_DELETION = "d7e97f60-0265-437d-82c5-a8489994eda7"  # AWS IAM Mass User Deletion
LEAVE_ORG = "bb3c7f15-92b2-4692-b858-39e6562b8704"  # AWS Account Left the Organization


def record(event_name="DeleteUser", event_id="e1", source="iam.amazonaws.com", time="2026-03-01T10:00:00Z",
           arn="arn:aws:iam::111122223333:user/ops", **extra) -> dict:
    r = {"eventVersion": "1.09", "eventTime": time, "eventSource": source, "eventName": event_name,
         "eventID": event_id, "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser", "arn": arn}}
    r.update(extra)
    return r


def s3(records) -> bytes:
    return msgspec.json.encode({"Records": records})  # msgspec: any integer, as JSON allows


def jsonl(records) -> bytes:
    return b"".join(msgspec.json.encode(r) + b"\n" for r in records)


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def readme_scan_examples() -> list[tuple[list[str], str]]:
    """(arguments after `scan`, the first line it writes) of every README example whose output is a match."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    found = []
    for command_line, first in re.findall(r"^\$ \.venv/bin/cloudtrail-pack scan (.*)\n(\{.*\})$", text, re.M):
        args = shlex.split(command_line.split("|")[0].replace("2>/dev/null", ""))
        found.append((args, first))
    return found
