"""`scan --engine spark`: the backtest as Spark SQL, for archives one machine cannot scan.

The same rules, compiled once as the default engine compiles them (the reference engine's SQLite SQL,
`reference.py`), each rule's WHERE clause converted to Spark SQL with SQLite's meaning
(`spark_sql.py`), run over CloudTrail files read in Spark (`spark_read.py`); correlations as windowed
aggregations over the base rules' matches (`spark_correlation.py`) and merged into incidents by
`Verdict.incidents`, as the default engine merges them. One pass over the data: each file is one row,
its events are judged in place, and only the first event of each file (its status) and the matching
events come back to the driver. Output: the dicts `cloudtrail_pack.scan.scan` yields, in its order
(detections in file and record order, rule ids sorted; then correlation alerts).

Local paths or URIs Spark can list (`s3://`, `s3a://`: hadoop-aws on the cluster). The active
SparkSession is used when there is one (spark-submit, EMR, Glue, Databricks); otherwise a local one
(`master`, default `local[*]`), bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterable, Iterator

from ..pack import Pack, PackError
from ..records import walk
from ..scan import PROBLEMS_KEPT, ScanSummary
from .reference import ReferenceEngine, Verdict
from .spark_correlation import alerts, check, fields as correlation_fields
from .spark_read import field_expression, file_key, is_remote, local_key, read_files
from .spark_sql import SparkUnsupported, column_name, compile_where

INSTALL_HINT = "pip install '.[spark]'; needs Java 17+"
OUTPUT_FIELDS = ("eventID", "eventTime", "eventSource", "eventName", "sourceIPAddress", "errorCode", "recipientAccountId")
PRINCIPAL = ("userIdentity.arn", "userIdentity.invokedBy", "userIdentity.principalId", "userIdentity.type")
ZONE = "(?i)(z|[+-][0-9]{2}(:?[0-9]{2})?)$"


class SparkUnavailable(PackError):
    """pyspark or Java is missing: the one thing to do about it."""

    def __init__(self, why: str):
        super().__init__("scan --engine spark", f"{why}: {INSTALL_HINT}")


def session(master: str | None = None):
    """The active SparkSession, or a local one configured for a backtest on this machine."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SparkUnavailable("pyspark is not installed") from e
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        _check_literals(active)
        return active
    if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
        # started by spark-submit (or the pyspark shell): its master and configuration, unchanged
        spark = SparkSession.builder.appName("cloudtrail-pack scan").getOrCreate()
        _check_literals(spark)
        return spark
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SparkUnavailable("no Java runtime found (JAVA_HOME or java on PATH)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master or "local[*]")
        .appName("cloudtrail-pack scan")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", str(max(2, os.cpu_count() or 2)))
        .config("spark.sql.session.timeZone", "UTC")
    )
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: Java missing or too old
        raise SparkUnavailable(f"Spark could not start ({str(e).splitlines()[0][:200]})") from e
    spark.sparkContext.setLogLevel("ERROR")
    _check_literals(spark)
    return spark


def _check_literals(spark) -> None:
    if spark.conf.get("spark.sql.parser.escapedStringLiterals", "false").lower() == "true":
        raise PackError("scan --engine spark", "spark.sql.parser.escapedStringLiterals=true changes what string "
                        "literals mean; run the scan with it false (Spark's default)")


def _inputs(paths: Iterable[Path | str], summary: ScanSummary) -> tuple[list[str], dict[str, str], list[str]]:
    """(what Spark reads, {file key: the name the output gives it}, local files in scan order); local
    inputs that will not be read go to `summary.skipped` with the reason, as the default engine's."""
    inputs, names, order = [], {}, []
    for p in paths:
        if is_remote(str(p)):
            inputs.append(str(p))
            continue
        for f, reason in walk([p]):
            if reason is not None or f == "-":
                summary.skipped.append((f, reason or "standard input is not read by the Spark engine"))
                continue
            key = local_key(Path(f))
            inputs.append(key)
            names[key] = f
            order.append(key)
    return inputs, names, order


def scan(
    paths: Iterable[Path | str],
    pack: Pack,
    rule_ids: list[str] | None = None,
    summary: ScanSummary | None = None,
    filters: tuple = (),
    master: str | None = None,
) -> Iterator[dict]:
    """Yield what `cloudtrail_pack.scan.scan` yields for the same files, computed by Spark."""
    from ..scan import principal

    summary = summary if summary is not None else ScanSummary()
    start = time.perf_counter()
    asked = pack.select(rule_ids)
    selected = pack.with_counted_rules(asked)
    engine = ReferenceEngine(pack, selected, filters)
    unsupported = dict(engine.unsupported)
    predicates = {}
    for rule in selected:
        if rule.is_correlation or rule.id in unsupported:
            continue
        try:
            predicates[rule.id] = compile_where(engine.queries[rule.id])
        except SparkUnsupported as e:
            unsupported[rule.id] = f"Spark: {e}"
    correlations = []
    for rule in selected:
        if not rule.is_correlation or rule.id in unsupported:
            continue
        try:
            check(rule.rule)
            missing = [str(ref.rule.id) for ref in rule.rule.referenced_rules if str(ref.rule.id) not in predicates]
            if missing:
                raise SparkUnsupported(f"a rule it counts is not evaluated: {', '.join(missing)}")
            correlations.append(rule)
        except SparkUnsupported as e:
            unsupported[rule.id] = f"Spark: {e}"
    summary.unsupported = {pack.by_id(i).title: why for i, why in sorted(unsupported.items())}
    reported = {r.id for r in asked}
    counted = {str(ref.rule.id) for r in correlations for ref in r.rule.referenced_rules}

    inputs, names, order = _inputs(paths, summary)
    if not inputs:
        summary.seconds = time.perf_counter() - start
        return
    spark = session(master)
    wanted = {"eventID", "eventTime", *OUTPUT_FIELDS, *PRINCIPAL}
    wanted |= {f for p in predicates.values() for f in p.fields}
    wanted |= {f for r in correlations for f in correlation_fields(r.rule)}
    for uri in [i for i in inputs if is_remote(i)]:
        order.extend(_listed(spark, uri, summary))
    rows = _matches(spark, inputs, sorted(wanted), predicates)

    # per file: status, events, problems; per match: the record's fields
    files: dict[str, dict] = {}
    found: list = []
    for row in rows:
        key = file_key(row["file"])
        if row["pos"] is None or row["pos"] == 0:
            files[key] = {"error": row["error"], "events": row["events"] or 0, "problems": row["problems"] or []}
        if row["rules"]:
            found.append((key, row["pos"], row))
    for key in order:  # listed, but Spark produced no row: unreadable compressed data or an empty file
        if key not in files:
            empty = not is_remote(key) and os.path.exists(key) and os.path.getsize(key) == 0
            files[key] = {"error": "empty: no CloudTrail events" if empty else
                          "corrupt or truncated gzip (Spark could not read it)", "events": 0, "problems": []}
    rank = {k: i for i, k in enumerate(order)}
    file_order = sorted(files, key=lambda k: (rank.get(k, len(rank)), k))
    position = {k: i for i, k in enumerate(file_order)}
    for key in file_order:
        summary.files += 1
        status, name = files[key], names.get(key, key)
        if status["error"]:
            summary.skipped.append((name, status["error"]))
            continue
        summary.events += status["events"]
        summary.parsed += status["events"]
        summary.bad_records += len(status["problems"])
        summary.skipped.extend((name, problem) for problem in status["problems"][:PROBLEMS_KEPT])
        if len(status["problems"]) > PROBLEMS_KEPT:
            summary.skipped.append((name, f"and {len(status['problems']) - PROBLEMS_KEPT} more records not read"))
    records: dict[str, dict] = {}
    found.sort(key=lambda f: (position[f[0]], f[1]))
    for key, _, row in found:
        fields = row["fields"].asDict()
        record = _record(fields)
        for rule_id in sorted(row["rules"]):
            if rule_id in counted:
                records[str(fields["eventID"])] = {"fields": fields, "rules": row["rules"],
                                                   "file": names.get(key, key), "where": row["where"]}
            if rule_id not in reported:
                continue
            summary.matches[rule_id] += 1
            rule = pack.by_id(rule_id)
            yield {
                "rule_id": rule_id,
                "rule_title": rule.title,
                "level": rule.level,
                **{k: fields.get(k) for k in ("eventID", "eventTime", "eventSource", "eventName")},
                "principal": principal(record),
                **{k: fields.get(k) for k in ("sourceIPAddress", "errorCode", "recipientAccountId")},
                "file": names.get(key, key),
            }
    if correlations and records:
        yield from _correlations(spark, pack, correlations, records, summary)
    summary.seconds = time.perf_counter() - start


def _listed(spark, uri: str, summary: ScanSummary) -> list[str]:
    """The files Spark reads under a URI (Hadoop's listing, as Spark's file index: names starting with
    `_` or `.` left out), so a file Spark skips as corrupt is still reported."""
    try:
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        listing = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listFiles(path, True)
        found = []
        while listing.hasNext():
            status = listing.next()
            if not status.getPath().getName().startswith(("_", ".")):
                found.append(file_key(status.getPath().toString()))
        return sorted(found)
    except Exception as e:  # Spark Connect has no JVM gateway; a listing error is the reader's to report
        summary.skipped.append((uri, f"not listed from the driver ({type(e).__name__}): a file Spark cannot "
                                     "decompress under it would not be reported"))
        return []


def _record(fields: dict) -> dict:
    """The nested record shape `principal()` reads."""
    identity = {k.split(".", 1)[1]: fields.get(k) for k in PRINCIPAL}
    return {"userIdentity": identity}


def _matches(spark, inputs: list[str], wanted: list[str], predicates: dict) -> list:
    """One row per file (its status: first event or none) and per matching event, from one Spark job."""
    from pyspark.sql import functions as F

    tops = sorted({f.split(".", 1)[0] for f in wanted})
    files = read_files(spark, inputs, tops)
    events = files.select(
        "file", "error", "problems", "wheres",
        F.size(F.coalesce("records", F.array())).alias("events"),
        F.posexplode_outer("records").alias("pos", "rec"),
    )
    flat = events.select("file", "error", "problems", "events", "pos", F.element_at("wheres", F.col("pos") + 1).alias("where"),
                         *[F.expr(field_expression(f)).alias(f) for f in wanted])
    flags = [F.when(F.expr(p.sql), F.lit(rule_id)) for rule_id, p in sorted(predicates.items())]
    rules = F.filter(F.array(*flags), lambda x: x.isNotNull()) if flags else F.array().cast("array<string>")
    judged = flat.select(
        "file", "error", "problems", "events", "pos", "where", rules.alias("rules"),
        F.struct(*[F.col(column_name(f)) for f in wanted]).alias("fields"),
    )
    keep = F.col("pos").isNull() | (F.col("pos") == 0) | (F.size("rules") > 0)
    first = F.col("pos").isNull() | (F.col("pos") == 0)
    return judged.where(keep).select(
        "file", F.when(first, F.col("error")).alias("error"), F.when(first, F.col("problems")).alias("problems"),
        "events", "pos", "where", "rules",
        F.when(F.size("rules") > 0, F.col("fields")).alias("fields"),
    ).collect()


def _correlations(spark, pack: Pack, correlations, records: dict[str, dict], summary: ScanSummary) -> Iterator[dict]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    columns = sorted({f for r in correlations for f in correlation_fields(r.rule)})
    schema = StructType(
        [StructField("eid", StringType()), StructField("time", StringType()), StructField("rules", ArrayType(StringType()))]
        + [StructField(f, StringType()) for f in columns]
    )
    data = [
        (eid, r["fields"].get("eventTime"), list(r["rules"]), *[r["fields"].get(f) for f in columns])
        for eid, r in records.items()
    ]
    counted = spark.createDataFrame(data, schema)
    # the reference's ts: SQLite julianday() of eventTime (UTC unless a zone is written), to the millisecond
    stamp = F.when(F.col("time").rlike(ZONE), F.col("time")).otherwise(F.concat(F.col("time"), F.lit("Z")))
    counted = counted.withColumn("stamp", stamp).withColumn(
        "ts", F.round(F.expr("unix_micros(try_to_timestamp(stamp))") / 1000).cast("long")
    )
    _unplaced(counted, correlations, records, summary)
    verdict = Verdict({}, alerts(spark, counted, [(r.id, r.rule) for r in correlations]))
    for rule_id, group, events in sorted(verdict.incidents(), key=lambda i: (i[0], i[1], sorted(i[2]))):
        rule = pack.by_id(rule_id)
        times = sorted(records[e]["fields"]["eventTime"] for e in events)
        summary.matches[rule_id] += 1
        yield {
            "rule_id": rule_id,
            "rule_title": rule.title,
            "level": rule.level,
            "correlation": rule.rule.type.name.lower(),
            "group": dict(group),
            "events": sorted(events),
            "event_count": len(events),
            "first_eventTime": times[0],
            "last_eventTime": times[-1],
        }


def _unplaced(counted, correlations, records: dict[str, dict], summary: ScanSummary) -> None:
    """Each counted event whose eventTime Spark cannot read as a time, named as the default engine names
    it: left out of the correlations, its own detections reported (which strings are times is Spark's
    to_timestamp here, SQLite's julianday() there: docs/spark.md)."""
    from pyspark.sql import functions as F

    missing = {r["eid"] for r in counted.where(F.col("ts").isNull()).select("eid").collect()}
    for eid, record in records.items():
        if eid not in missing:
            continue
        titles = sorted({r.title for r in correlations
                         if {str(ref.rule.id) for ref in r.rule.referenced_rules} & set(record["rules"])})
        summary.bad_records += 1
        summary.skipped.append((record["file"], f"{record['where']}: eventTime {record['fields'].get('eventTime')!r} "
                                f"is not a time: left out of the correlations ({'; '.join(titles)}); its own "
                                "detections are reported"))
