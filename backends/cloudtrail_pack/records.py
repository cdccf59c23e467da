"""Reading CloudTrail records as users have them on disk.

Formats: S3 delivery files (`{"Records": [...]}`, `.json` or `.json.gz`), one JSON event per line
(CloudWatch Logs and CloudTrail Lake exports), and EventBridge "AWS API Call via CloudTrail" envelopes
(the record is the envelope's `detail`), one per line. The format is detected from the content, so a
mixed folder needs no flags.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

FORMATS = ("s3", "s3-gzip", "jsonl", "eventbridge")


class RecordError(Exception):
    """A file that is not readable CloudTrail; the message names the file (and line) and the reason."""

    def __init__(self, path: Path, reason: str, line: int | None = None):
        self.path, self.reason, self.line = Path(path), reason, line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class CloudTrailFile:
    path: Path
    format: str  # one of FORMATS
    records: list[dict]


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw), True
        except (EOFError, OSError, zlib.error) as e:
            raise RecordError(path, f"corrupt or truncated gzip ({e})") from e
    return raw, False


def is_cloudtrail_record(obj: object) -> bool:
    return isinstance(obj, dict) and "eventSource" in obj and "eventName" in obj and "eventTime" in obj


def _unwrap(obj: object) -> tuple[dict | None, bool]:
    """The CloudTrail record in a line, and whether it came in an EventBridge envelope."""
    if isinstance(obj, dict) and "detail" in obj and "detail-type" in obj:
        return (obj["detail"] if is_cloudtrail_record(obj["detail"]) else None), True
    return (obj if is_cloudtrail_record(obj) else None), False


def read_file(path: Path | str) -> CloudTrailFile:
    """All records of one file; raises RecordError if the file is not CloudTrail as described above."""
    path = Path(path)
    try:
        data, gzipped = _read_bytes(path)
    except OSError as e:
        raise RecordError(path, f"cannot read ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    stripped = text.lstrip()
    if stripped.startswith("{") and '"Records"' in stripped[:200]:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecordError(path, f"invalid JSON ({e.msg})", e.lineno) from e
        if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
            raise RecordError(path, "not a CloudTrail delivery file: expected {\"Records\": [...]}")
        for i, rec in enumerate(doc["Records"]):
            if not is_cloudtrail_record(rec):
                raise RecordError(path, f"Records[{i}] is not a CloudTrail event (no eventSource/eventName/eventTime)")
        return CloudTrailFile(path, "s3-gzip" if gzipped else "s3", doc["Records"])
    records, envelopes = [], 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordError(path, f"invalid JSON ({e.msg})", lineno) from e
        record, envelope = _unwrap(obj)
        if record is None:
            raise RecordError(path, "not a CloudTrail event (no eventSource/eventName/eventTime)", lineno)
        envelopes += envelope
        records.append(record)
    if not records:
        raise RecordError(path, "no CloudTrail events in the file")
    return CloudTrailFile(path, "eventbridge" if envelopes == len(records) else "jsonl", records)


def iter_paths(paths: list[Path | str]) -> Iterator[Path]:
    """Files named, and files under folders named (recursively, sorted), skipping hidden files."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            yield p
