"""Reading CloudTrail files in Spark as `records.py` reads them, and the fields rules read.

Each file is one row (`spark.read.text(..., wholetext=True)`; Hadoop gunzips `.gz` by its extension), so
its format is told from its content as `records.RecordReader` tells it: an S3 delivery document
(`{"Records": [...]}`, Records first, compact or pretty-printed), a JSON array of events, JSON lines (each
an event or an EventBridge envelope whose `detail` is one), or any other single JSON document. Every
top-level field a rule reads is declared as text: nested objects (`requestParameters`, `userIdentity`...)
stay JSON text whatever their shape in each API, and a rule's dotted field is read from it with
`get_json_object`. Nothing is inferred, so no two files can disagree on a type.

What is not CloudTrail is reported, as the default engine reports it, and the rest is read: a line that
is not JSON or not an event (`line N: ...`), an element that is not an event (`record N: ...`, an event
being an object with eventSource, eventName, eventTime and eventID, and userIdentity an object when
present), an empty file. A document with a JSON syntax error cannot be cut into records in SQL: it is
reported and not read (the default engine keeps the records before the error). A corrupt or truncated
gzip stops Hadoop's reader; the file is skipped (`ignoreCorruptFiles`) and `spark.py` reports every listed
file that produced no row.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from .spark_sql import column_name, spark_string

# The whitespace bytes.strip() removes (records.RecordReader strips each line of JSON lines with it).
_WHITESPACE = " \t\n\r\x0b\x0c"
REMOTE_SCHEMES = ("s3://", "s3a://", "s3n://", "gs://", "abfs://", "abfss://", "hdfs://", "dbfs:/", "file:/")


def is_remote(path: str) -> bool:
    return str(path).startswith(REMOTE_SCHEMES)


def file_key(uri: str) -> str:
    """A file as Spark names it (`_metadata.file_path`: a URI, percent-encoded), comparable with a local
    path's `Path.resolve().as_uri()` or a URI the user gave."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path).rstrip("/")
    return unquote(uri).rstrip("/")


def local_key(path: Path) -> str:
    return str(path.resolve())


def _json_path(keys: list[str]) -> str:
    for key in keys:
        if "'" in key or "]" in key or "[" in key:
            raise ValueError(f"field name part {key!r} cannot be written as a Spark JSON path")
    return "$" + "".join(f"['{k}']" for k in keys)


def field_expression(field: str) -> str:
    """Spark SQL reading a rule's dotted field from a record struct `rec` of top-level JSON-text fields."""
    top, *rest = field.split(".")
    column = f"rec.{column_name(top)}"
    return column if not rest else f"get_json_object({column}, {spark_string(_json_path(rest))})"


def record_schema(top_fields: list[str]) -> str:
    return ", ".join(f"{column_name(f)}: STRING" for f in sorted(set(top_fields)))


def _has_keys(keys: str, names) -> str:
    return " AND ".join(f"coalesce(array_contains({keys}, '{k}'), false)" for k in names)


DOCUMENT = r'^\{\s*"Records"\s*:\s*\['  # records._DOCUMENT: a delivery document, Records first
HEAD_FIELDS = ("eventSource", "eventName", "eventTime", "eventID")  # what every CloudTrail event has


def _not_event(rec: str) -> str:
    """Not an event: parsed as an object, with the head fields (not NULL), userIdentity an object when present."""
    return (
        f"({rec} IS NULL OR "
        + " OR ".join(f"{rec}.{k} IS NULL" for k in HEAD_FIELDS)
        + f" OR NOT coalesce(startswith({rec}.userIdentity, '{{'), true))"
    )


def parse_files_sql(top_fields: list[str]) -> list[tuple[str, str]]:
    """(column, Spark SQL) stages over one row per file (`value`: its text), ending with `error` (the file
    could not be read at all), `problems` ("record N: reason", "line N: reason"), `records` (the
    events that are CloudTrail, as structs of the top-level fields, in file order) and `wheres` (each
    one's "record N" or "line N")."""
    rec = f"STRUCT<{record_schema([*top_fields, *HEAD_FIELDS, 'userIdentity'])}>"
    ws = spark_string(_WHITESPACE)
    bom = spark_string(_WHITESPACE + "\ufeff")
    envelope = "STRUCT<`detail-type`: STRING, detail: STRING>"
    return [
        ("text", f"regexp_replace(value, {spark_string('^' + chr(0xFEFF))}, '')"),
        ("body", f"trim(LEADING {bom} FROM text)"),
        ("first", f"trim(BOTH {ws} FROM split(body, '\\n')[0])"),
        ("kind", "CASE WHEN body = '' THEN 'empty' WHEN startswith(body, '[') THEN 'array' "
                 f"WHEN body RLIKE {spark_string(DOCUMENT)} THEN 's3' "
                 "WHEN startswith(first, '{') AND get_json_object(first, '$') IS NULL "
                 "AND get_json_object(body, '$') IS NOT NULL THEN 'document' ELSE 'lines' END"),
        # documents and arrays: the events as JSON text, in order; NULL where the JSON is broken
        ("doc", "CASE WHEN kind IN ('s3', 'document') THEN from_json(body, 'STRUCT<Records: ARRAY<STRING>, "
                "`detail-type`: STRING, detail: STRING>') END"),
        ("items", "CASE WHEN kind = 'array' THEN from_json(body, 'ARRAY<STRING>') "
                  "WHEN kind = 's3' THEN doc.Records "
                  "WHEN kind = 'document' THEN CASE WHEN doc.Records IS NOT NULL THEN doc.Records "
                  f"WHEN {_has_keys('json_object_keys(body)', ('detail-type', 'detail'))} THEN array(doc.detail) "
                  "ELSE array(body) END END"),
        # JSON lines: every non-blank line, with its number; an envelope stands for its detail
        ("lines", "CASE WHEN kind = 'lines' THEN filter(transform(split(text, '\\n'), "
                  "(l, i) -> named_struct('n', i + 1, 't', l)), "
                  f"x -> trim(BOTH {ws} FROM x.t) != '') END"),
        ("candidates", "CASE WHEN kind = 'lines' THEN transform(lines, x -> named_struct("
                       "'where', 'line ' || x.n, 'valid', get_json_object(x.t, '$') IS NOT NULL, "
                       "'t', CASE WHEN "
                       + _has_keys("json_object_keys(x.t)", ("detail-type", "detail"))
                       + f" THEN from_json(x.t, '{envelope}').detail ELSE x.t END)) "
                       "ELSE transform(items, (t, i) -> named_struct('where', 'record ' || (i + 1), 'valid', true, 't', t)) END"),
        ("parsed", f"transform(candidates, x -> named_struct('where', x.where, 'valid', x.valid, "
                   f"'rec', CASE WHEN x.valid THEN from_json(x.t, '{rec}') END))"),
        ("judged", "transform(parsed, x -> named_struct('where', x.where, 'rec', x.rec, 'reason', CASE "
                   "WHEN NOT x.valid THEN 'invalid JSON' "
                   f"WHEN {_not_event('x.rec')} "
                   "THEN 'not a CloudTrail event (no eventSource, eventName, eventTime or eventID, or a userIdentity that is not an object)' END))"),
        ("error", "CASE WHEN kind = 'empty' THEN 'empty: no CloudTrail events' "
                  "WHEN kind IN ('s3', 'array', 'document') AND items IS NULL "
                  "THEN 'invalid JSON: the file is not read (Spark reads a JSON document whole)' END"),
        ("problems", "CASE WHEN error IS NULL THEN transform(filter(judged, x -> x.reason IS NOT NULL), "
                     "x -> x.where || ': ' || x.reason) END"),
        ("records", "CASE WHEN error IS NULL THEN transform(filter(judged, x -> x.reason IS NULL), x -> x.rec) END"),
        ("wheres", "CASE WHEN error IS NULL THEN transform(filter(judged, x -> x.reason IS NULL), x -> x.where) END"),
    ]


def read_files(spark, inputs: list[str], top_fields: list[str]):
    """One row per file that Spark could read: `file` (its URI), `error`, `problems`, `records`, `wheres`."""
    from pyspark.sql import functions as F

    reader = spark.read.option("recursiveFileLookup", "true").option("ignoreCorruptFiles", "true")
    df = reader.text(inputs, wholetext=True).select(F.col("_metadata.file_path").alias("file"), "value")
    for name, sql in parse_files_sql(top_fields):
        df = df.withColumn(name, F.expr(sql))
    return df.select("file", "error", "problems", "records", "wheres")
