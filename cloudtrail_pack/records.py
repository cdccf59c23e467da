"""Reading CloudTrail records as users have them on disk.

Formats: S3 delivery files (`{"Records": [...]}`, `.json` or `.json.gz`), one JSON event per line
(CloudWatch Logs and CloudTrail Lake exports), and EventBridge "AWS API Call via CloudTrail" envelopes
(the record is the envelope's `detail`), one per line. The format is detected from the content, so a
mixed folder needs no flags. `scan` and the tests read files through the same functions.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

FORMATS = ("s3", "s3-gzip", "jsonl", "eventbridge")


class RecordError(ValueError):
    """Input that is not readable CloudTrail: the reason, and the line where there is one."""

    def __init__(self, reason: str, line: int | None = None, path: Path | None = None):
        self.reason, self.line, self.path = reason, line, path
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else f"line {line}: " if line else ""
        super().__init__(f"{where}{reason}")


@dataclass(frozen=True)
class CloudTrailFile:
    path: Path
    format: str  # one of FORMATS
    records: list[dict]


def is_cloudtrail_record(obj: object) -> bool:
    return isinstance(obj, dict) and "eventSource" in obj and "eventName" in obj and "eventTime" in obj


def decompress(raw: bytes) -> tuple[bytes, bool]:
    """The file's bytes, gunzipped if they are gzip; raises RecordError on a corrupt or truncated gzip."""
    if raw[:2] != b"\x1f\x8b":
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (EOFError, OSError, zlib.error) as e:
        raise RecordError(f"corrupt or truncated gzip ({e})") from e


def parse_records(data: bytes) -> tuple[str, list[dict]]:
    """(format, records) of a file's content, gunzipped; raises RecordError naming the line at fault."""
    head = data.lstrip()[:200]
    if head.startswith(b"{") and b'"Records"' in head:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise RecordError(f"invalid JSON ({e})") from e
        records = doc.get("Records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            raise RecordError('not a CloudTrail delivery file: expected {"Records": [events]}')
        for i, record in enumerate(records):
            if not is_cloudtrail_record(record):
                raise RecordError(f"Records[{i}] is not a CloudTrail event (no eventSource/eventName/eventTime)")
        return "s3", records
    records, envelopes = [], 0
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise RecordError(f"invalid JSON ({e})", lineno) from e
        if isinstance(obj, dict) and "detail-type" in obj and "detail" in obj:
            obj, envelopes = obj["detail"], envelopes + 1
        if not is_cloudtrail_record(obj):
            raise RecordError("not a CloudTrail event (no eventSource/eventName/eventTime)", lineno)
        records.append(obj)
    if not records:
        raise RecordError("no CloudTrail events in the file")
    return ("eventbridge" if envelopes == len(records) else "jsonl"), records


def read_file(path: Path | str) -> CloudTrailFile:
    """All records of one file; raises RecordError (naming the file) if it is not CloudTrail."""
    path = Path(path)
    try:
        data, gzipped = decompress(path.read_bytes())
        fmt, records = parse_records(data)
    except OSError as e:
        raise RecordError(f"cannot read ({e.strerror or e})", path=path) from e
    except RecordError as e:
        raise RecordError(e.reason, e.line, path) from e
    return CloudTrailFile(path, "s3-gzip" if fmt == "s3" and gzipped else fmt, records)


def iter_paths(paths: list[Path | str]) -> Iterator[Path]:
    """Files named, and files under folders named (recursively, sorted), skipping hidden files."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            yield p
