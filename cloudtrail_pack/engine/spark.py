"""`scan --engine spark`: the backtest as Spark SQL, for archives one machine cannot scan.

The same rules, compiled once as the default engine compiles them (the reference engine's SQLite SQL,
`reference.py`), each rule's WHERE clause converted to Spark SQL with SQLite's meaning
(`spark_sql.py`), run over CloudTrail files read in Spark (`spark_read.py`); correlations as windowed
aggregations over the base rules' matches (`spark_correlation.py`) and merged into incidents by
`Verdict.incidents`, as the default engine merges them. One pass over the data: each file is one row,
its events are judged in place, and only the first event of each file (its status) and the matching
events come back to the driver. Output: the reports of the default engine (`results.Match`, `Alert`), in
its order (detections in file and record order, rule ids sorted; then correlation alerts), through the
same contract (`interface.Engine`).

Local paths or URIs Spark can list (`s3://`, `s3a://`: hadoop-aws on the cluster). The active
SparkSession is used when there is one (spark-submit, EMR, Glue, Databricks); otherwise a local one
(`master`, default `local[*]`), bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..pack import Pack, PackError
from ..inputs import walk
from .interface import Options, is_uri
from .reference import ReferenceEngine, Verdict
from .results import REPORTED_FIELDS, Alert, Match, RuleInfo, Summary, alerts, left_out, nested, titled
from .spark_correlation import check, fields as correlation_fields, windows
from .spark_read import field_expression, file_key, is_remote, local_key, read_files
from .spark_sql import SparkPredicate, SparkUnsupported, column_name, compile_where

INSTALL_HINT = "pip install '.[spark]'; needs Java 17+"
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


@dataclass
class SparkPlan:
    """The selected rules as the Spark engine runs them: each detection's WHERE clause as Spark SQL, the
    correlations it can evaluate exactly, and why each other rule is not evaluated."""

    rules: dict[str, RuleInfo]
    reported: frozenset[str]  # rules whose matches are reported (the ones asked for)
    predicates: dict[str, SparkPredicate] = field(default_factory=dict)
    correlations: list = field(default_factory=list)  # pack rules
    unsupported: dict[str, str] = field(default_factory=dict)  # rule id -> why

    @classmethod
    def build(cls, pack: Pack, rule_ids: list[str] | None, filters: tuple) -> "SparkPlan":
        asked = pack.select(rule_ids)
        selected = pack.with_counted_rules(asked)
        engine = ReferenceEngine(pack, selected, filters)
        plan = cls({r.id: RuleInfo.of(r) for r in selected}, frozenset(r.id for r in asked),
                   unsupported=dict(engine.unsupported))
        for rule in selected:
            if rule.id not in plan.unsupported and not rule.is_correlation:
                plan._predicate(rule, engine.queries[rule.id])
        for rule in selected:
            if rule.id not in plan.unsupported and rule.is_correlation:
                plan._correlation(rule)
        return plan

    def _predicate(self, rule, sql: str) -> None:
        try:
            self.predicates[rule.id] = compile_where(sql)
        except SparkUnsupported as e:
            self.unsupported[rule.id] = f"Spark: {e}"

    def _correlation(self, rule) -> None:
        try:
            check(rule.rule)
            missing = [str(ref.rule.id) for ref in rule.rule.referenced_rules if str(ref.rule.id) not in self.predicates]
            if missing:
                raise SparkUnsupported(f"a rule it counts is not evaluated: {', '.join(missing)}")
            self.correlations.append(rule)
        except SparkUnsupported as e:
            self.unsupported[rule.id] = f"Spark: {e}"

    @property
    def counted(self) -> set[str]:
        """The rules the evaluated correlations count."""
        return {str(ref.rule.id) for r in self.correlations for ref in r.rule.referenced_rules}

    def columns(self) -> list[str]:
        """Every field Spark reads of a record: the reports', the predicates' and the correlations'."""
        wanted = {*REPORTED_FIELDS, *(f for p in self.predicates.values() for f in p.fields)}
        wanted |= {f for r in self.correlations for f in correlation_fields(r.rule)}
        return sorted(wanted)


@dataclass
class _Inputs:
    """What Spark reads (local files as keys, URIs as given), the name the output gives each local file,
    and the files in scan order (remote ones once listed)."""

    read: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, paths: Iterable[Path | str], summary: Summary) -> "_Inputs":
        """Local inputs that will not be read go to `summary` with the reason, as the default engine's."""
        inputs = cls()
        for p in paths:
            if is_remote(str(p)):
                inputs.read.append(str(p))
                continue
            for f, reason in walk([p if is_uri(p) else Path(p)]):  # a local path named as Path names it
                if reason is not None or f == "-":
                    summary.input_skipped(f, reason or "standard input is not read by the Spark engine")
                    continue
                key = local_key(Path(f))
                inputs.read.append(key)
                inputs.names[key] = f
                inputs.order.append(key)
        return inputs

    def name(self, key: str) -> str:
        return self.names.get(key, key)


class SparkEngine:
    """`scan --engine spark` (`interface.Engine`): the scan as Spark SQL, in local mode or on a cluster."""

    name = "spark"

    def __init__(self, pack: Pack, options: Options):
        self.pack = pack
        self.options = options

    @classmethod
    def usage_error(cls, paths, options: Options) -> str | None:
        if "-" in paths:
            return "--engine spark reads files and URIs, not standard input"
        if options.jobs is not None:
            return "--jobs sets the default engine's worker processes; Spark sizes itself (--spark-master)"
        if options.every_record:
            return "--check-every-record is the default engine's; Spark's JSON reader parses every record anyway"
        return None

    def scan(self, paths: Iterable[Path | str], summary: Summary) -> Iterator[Match | Alert]:
        """What the default engine reports for the same files, computed by Spark."""
        start = time.perf_counter()
        try:
            plan = SparkPlan.build(self.pack, self.options.rule_ids, self.options.filters)
            summary.unsupported = titled(self.pack, plan.unsupported)
            inputs = _Inputs.of(paths, summary)
            if not inputs.read:
                return
            spark = session(self.options.master)
            for uri in [i for i in inputs.read if is_remote(i)]:
                inputs.order.extend(_listed(spark, uri, summary))
            files, found = _by_file(_matches(spark, inputs.read, plan.columns(), plan.predicates), inputs)
            position = _account(files, inputs, summary)
            found.sort(key=lambda f: (position[f[0]], f[1]))
            counted: dict[str, dict] = {}  # event id -> what a correlation reads of a matched record
            yield from _detections(plan, found, inputs, counted, summary)
            if plan.correlations and counted:
                yield from _correlations(spark, plan, counted, summary)
        finally:
            summary.seconds = time.perf_counter() - start


def scan(
    paths: Iterable[Path | str],
    pack: Pack,
    rule_ids: list[str] | None = None,
    summary: Summary | None = None,
    filters: tuple = (),
    master: str | None = None,
) -> Iterator[Match | Alert]:
    """The Spark engine's reports for these paths (`SparkEngine.scan`), its options as arguments."""
    options = Options(rule_ids=rule_ids, filters=filters, master=master)
    return SparkEngine(pack, options).scan(paths, summary if summary is not None else Summary())


def _by_file(rows: list, inputs: _Inputs) -> tuple[dict[str, dict], list]:
    """({file key: its status: error, events, problems}, [(file key, position, row) of each matching
    event]); a file listed that Spark produced no row for is unreadable compressed data or empty."""
    files: dict[str, dict] = {}
    found: list = []
    for row in rows:
        key = file_key(row["file"])
        if row["pos"] is None or row["pos"] == 0:
            files[key] = {"error": row["error"], "events": row["events"] or 0, "problems": row["problems"] or []}
        if row["rules"]:
            found.append((key, row["pos"], row))
    for key in inputs.order:
        if key not in files:
            empty = not is_remote(key) and os.path.exists(key) and os.path.getsize(key) == 0
            files[key] = {"error": "empty: no CloudTrail events" if empty else
                          "corrupt or truncated gzip (Spark could not read it)", "events": 0, "problems": []}
    return files, found


def _account(files: dict[str, dict], inputs: _Inputs, summary: Summary) -> dict[str, int]:
    """Each file into the summary, in scan order; its position in that order."""
    rank = {k: i for i, k in enumerate(inputs.order)}
    file_order = sorted(files, key=lambda k: (rank.get(k, len(rank)), k))
    for key in file_order:
        status = files[key]
        if status["error"]:
            summary.file_unread(inputs.name(key), status["error"])
        else:
            summary.file_read(inputs.name(key), status["events"], status["events"], status["problems"])
    return {k: i for i, k in enumerate(file_order)}


def _detections(plan: SparkPlan, found: list, inputs: _Inputs, counted: dict[str, dict], summary: Summary) -> Iterator[Match]:
    """The reported matches in file and record order, rule ids sorted; the records the correlations count
    into `counted`."""
    counts = plan.counted
    for key, _, row in found:
        fields = row["fields"].asDict()
        record = nested(fields)
        for rule_id in sorted(row["rules"]):
            if rule_id in counts:
                counted[str(fields["eventID"])] = {"fields": fields, "rules": row["rules"], "file": inputs.name(key),
                                                   "where": row["where"]}
            if rule_id in plan.reported:
                match = Match.of(plan.rules[rule_id], record, inputs.name(key))
                summary.reported(match)
                yield match


def _listed(spark, uri: str, summary: Summary) -> list[str]:
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
        summary.input_skipped(uri, f"not listed from the driver ({type(e).__name__}): a file Spark cannot "
                                   "decompress under it would not be reported")
        return []


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


def _correlations(spark, plan: SparkPlan, counted: dict[str, dict], summary: Summary) -> Iterator[Alert]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    columns = sorted({f for r in plan.correlations for f in correlation_fields(r.rule)})
    schema = StructType(
        [StructField("eid", StringType()), StructField("time", StringType()), StructField("rules", ArrayType(StringType()))]
        + [StructField(f, StringType()) for f in columns]
    )
    data = [
        (eid, r["fields"].get("eventTime"), list(r["rules"]), *[r["fields"].get(f) for f in columns])
        for eid, r in counted.items()
    ]
    frame = spark.createDataFrame(data, schema)
    # the reference's ts: SQLite julianday() of eventTime (UTC unless a zone is written), to the millisecond
    stamp = F.when(F.col("time").rlike(ZONE), F.col("time")).otherwise(F.concat(F.col("time"), F.lit("Z")))
    frame = frame.withColumn("stamp", stamp).withColumn(
        "ts", F.round(F.expr("unix_micros(try_to_timestamp(stamp))") / 1000).cast("long")
    )
    _unplaced(frame, plan.correlations, counted, summary)
    verdict = Verdict({}, windows(spark, frame, [(r.id, r.rule) for r in plan.correlations]))
    incidents = []
    for rule_id, group, events in verdict.incidents():
        times = sorted(counted[e]["fields"]["eventTime"] for e in events)
        incidents.append((rule_id, group, events, times[0], times[-1]))
    for alert in alerts(plan.rules, incidents):
        summary.reported(alert)
        yield alert


def _unplaced(counted, correlations, records: dict[str, dict], summary: Summary) -> None:
    """Each counted event whose eventTime Spark cannot read as a time, named as the default engine names
    it: left out of the correlations, its own detections reported (which strings are times is Spark's
    to_timestamp here, SQLite's julianday() there: docs/spark.md)."""
    from pyspark.sql import functions as F

    missing = {r["eid"] for r in counted.where(F.col("ts").isNull()).select("eid").collect()}
    for eid, record in records.items():
        if eid not in missing:
            continue
        titles = {r.title for r in correlations
                  if {str(ref.rule.id) for ref in r.rule.referenced_rules} & set(record["rules"])}
        why = f"eventTime {record['fields'].get('eventTime')!r} is not a time"
        summary.record_skipped(record["file"], left_out(record["where"], why, titles))
