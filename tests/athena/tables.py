"""The fixtures in the two documented table shapes, in DuckDB, and the shipped Trino SQL run on them through
sqlglot (read="trino", write="duckdb"): an engine and a transpiler we did not write.

The tables come from AWS's published text, kept as test data (tests/data/aws_cloudtrail_tables/, with its source),
never from the pack's own DDL: a column the pack names wrongly is then a query that fails or misses here.

* Athena: the columns of the published `CREATE EXTERNAL TABLE cloudtrail_logs_pp` (parsed by sqlglot's Athena
  dialect): structs, arrays and maps as declared; partitions `account`, `region`, `timestamp` (yyyy/MM/dd from
  eventTime, as CloudTrail's S3 keys are dated), the organization trail's layout
  (`s3://<bucket>/AWSLogs/<o-id>/<account>/CloudTrail/<region>/<yyyy>/<MM>/<dd>/`, AWS CloudTrail User Guide,
  "Creating a trail for an organization"). A record is read as Hive's JSON SerDe reads it: keys matched to
  columns case-insensitively (Hive lower-cases column names), a JSON object or array in a STRING column as its
  JSON text (the page's "requestparameters STRING" queried with json_extract functions), booleans and numbers in
  a STRING column as their JSON text.
* CloudTrail Lake: the published event data store schema; a map<string,string> holds each key's value as its
  JSON text (a string as itself), eventtime a timestamp.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache

import duckdb
import sqlglot
from pathlib import Path

from sqlglot import exp

ATHENA_TABLE = "cloudtrail_organization"
LAKE_TABLE = "event_data_store"
PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "aws_cloudtrail_tables"
#: The organization trail's S3 layout as partitions (see above); all STRING, as partition projection declares them.
ORGANIZATION_PARTITIONS = ("account", "region", "timestamp")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))  # bool -> true, numbers, objects, arrays


def _convert(value, dtype: exp.DataType):
    if value is None:
        return None
    kind = dtype.this
    if kind == exp.DataType.Type.STRUCT:
        if not isinstance(value, dict):
            return None
        lowered = {k.lower(): v for k, v in value.items()}
        return {f.name: _convert(lowered.get(f.name.lower()), f.args["kind"]) for f in dtype.expressions}
    if kind == exp.DataType.Type.ARRAY:
        return [_convert(v, dtype.expressions[0]) for v in value] if isinstance(value, list) else None
    if kind == exp.DataType.Type.MAP:
        return {str(k): _text(v) for k, v in value.items()} if isinstance(value, dict) else None
    if kind == exp.DataType.Type.BOOLEAN:
        return value if isinstance(value, bool) else None
    if kind in (exp.DataType.Type.TIMESTAMP,):
        return parse_time(value) if isinstance(value, str) else None
    return _text(value)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


def ddl_columns(ddl: str) -> tuple[list[tuple[str, exp.DataType]], list[tuple[str, exp.DataType]]]:
    """(columns, partition columns) of a CREATE TABLE statement in Athena's DDL."""
    create = sqlglot.parse_one(ddl, read="athena")
    columns = [(c.name, c.args["kind"]) for c in create.this.expressions]
    partitions = create.find(exp.PartitionedByProperty).this.expressions
    return columns, [(c.name, c.args["kind"]) for c in partitions]


@cache
def published_athena_columns() -> list[tuple[str, exp.DataType]]:
    """The columns of AWS's published Athena table for CloudTrail logs."""
    return ddl_columns((PUBLISHED / "athena_cloudtrail_logs_pp.sql").read_text(encoding="utf-8"))[0]


@cache
def published_lake_columns() -> list[tuple[str, exp.DataType]]:
    """The columns of AWS's published event data store schema for CloudTrail events."""
    schema = json.loads((PUBLISHED / "lake_event_schema.json").read_text(encoding="utf-8"))
    return [(c["Name"], exp.DataType.build(c["Type"], dialect="hive")) for c in schema]


@cache
def athena_columns() -> list[tuple[str, exp.DataType]]:
    string = exp.DataType.build("string", dialect="hive")
    return published_athena_columns() + [(name, string) for name in ORGANIZATION_PARTITIONS]


def lake_columns() -> list[tuple[str, exp.DataType]]:
    return published_lake_columns()


def _load(table: str, columns, records: list[dict], extra, db=None) -> duckdb.DuckDBPyConnection:
    """A new database with the table holding `records`; or `db`'s table emptied and refilled (fast, for hypothesis)."""
    if db is None:
        db = duckdb.connect()
        definitions = ", ".join(f"{n} {t.sql(dialect='duckdb')}" for n, t in columns)
        db.execute(f"CREATE TABLE {table} ({definitions})")
    else:
        db.execute(f"DELETE FROM {table}")
    rows = []
    for record in records:
        lowered = {k.lower(): v for k, v in record.items()}
        row = []
        for name, dtype in columns:
            value = extra(name, record)
            row.append(value if value is not None else _convert(lowered.get(name), dtype))
        rows.append(row)
    if rows:
        # one statement for all rows: DuckDB's executemany prepares and runs once per row, which is slow
        placeholders = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(rows))
        db.execute(f"INSERT INTO {table} VALUES {placeholders}", [v for row in rows for v in row])
    return db


def folder(record: dict) -> dict[str, str]:
    """The partition values of the folder CloudTrail delivers `record` to when delivery is prompt: its account,
    its Region, its event day."""
    return {
        "account": record.get("recipientAccountId") or "111122223333",
        "region": record.get("awsRegion") or "us-east-1",
        "timestamp": parse_time(record["eventTime"]).strftime("%Y/%m/%d"),
    }


def athena_db(records: list[dict], db=None, folders=folder) -> duckdb.DuckDBPyConnection:
    """The Athena table holding `records`, each in the folder `folders(record)` names (a late delivery: a later day)."""

    def partitions(name, record):
        return folders(record)[name] if name in ORGANIZATION_PARTITIONS else None

    return _load(ATHENA_TABLE, athena_columns(), records, partitions, db)


def lake_db(records: list[dict], db=None) -> duckdb.DuckDBPyConnection:
    return _load(LAKE_TABLE, lake_columns(), records, lambda name, record: None, db)


@cache
def duckdb_sql(trino_sql: str) -> str:
    (out,) = sqlglot.transpile(trino_sql, read="trino", write="duckdb")
    return out


def athena_text(sql: str, accounts, start="0001-01-01 00:00:00", end="9999-12-30 00:00:00") -> str:
    """The query with its placeholders replaced as docs/athena.md's envsubst does: `accounts` as the quoted list."""
    listed = ", ".join(f"'{a}'" for a in accounts)
    return sql.replace("${ACCOUNT_IDS}", listed).replace("${START_TIME}", start).replace("${END_TIME}", end)


def run_athena(sql: str, db, accounts=None, **times) -> list[dict]:
    """Run a shipped Athena query; `accounts` by default every account folder in the table (the bucket's listing)."""
    if accounts is None:
        accounts = sorted(a for (a,) in db.execute(f"SELECT DISTINCT account FROM {ATHENA_TABLE}").fetchall()) or ["000000000000"]
    cursor = db.execute(duckdb_sql(athena_text(sql, accounts, **times)))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def lake_text(sql: str, start="0001-01-01 00:00:00", end="9999-12-31 23:59:59") -> str:
    return (
        sql.replace("${EVENT_DATA_STORE_ID}", LAKE_TABLE).replace("${START_TIME}", start).replace("${END_TIME}", end)
    )


def run_lake(sql: str, db, **times) -> list[dict]:
    cursor = db.execute(duckdb_sql(lake_text(sql, **times)))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
