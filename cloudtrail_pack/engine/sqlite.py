"""The SQLite side of the reference engine, configured once: pySigma's SQLite backend as this project
uses it, the table it queries, and how a column is named in SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigma.backends.sqlite import sqliteBackend

TABLE = "cloudtrail"


def backend() -> sqliteBackend:
    """A fresh backend (a backend keeps state per conversion): case-insensitive like Sigma (NOCASE
    columns), CloudTrail's event time and id for correlations. Imported here: a scan that runs a cached
    plan needs the table's name, not pySigma."""
    from sigma.backends.sqlite import sqliteBackend

    return sqliteBackend(collate_nocase=True, table=TABLE, timestamp_field="eventTime", event_id_field="eventID")


def quote(name: str) -> str:
    """A column name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
