"""Amazon Athena (-t athena) and AWS CloudTrail Lake (-t cloudtrail_lake) backends: one Trino SQL dialect over two
documented CloudTrail tables, so one package (backend.py: the shared dialect, tables.py: the two tables)."""

from .backend import AthenaBackend, CloudTrailLakeBackend

backends = {"athena": AthenaBackend, "cloudtrail_lake": CloudTrailLakeBackend}

__all__ = ["AthenaBackend", "CloudTrailLakeBackend", "backends"]
