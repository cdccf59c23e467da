"""One local SparkSession per test worker (JVM start-up is the cost), bound to 127.0.0.1, no UI;
every Spark test is skipped, with the reason, where pyspark or Java is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
HAVE_JAVA = bool(os.environ.get("JAVA_HOME") or shutil.which("java"))
needs_spark = pytest.mark.skipif(
    not (HAVE_PYSPARK and HAVE_JAVA),
    reason="Spark tests need pyspark and Java 17+ (pip install '.[spark]'): "
    + ("pyspark missing" if not HAVE_PYSPARK else "no java on PATH or JAVA_HOME"),
)


@pytest.fixture(scope="session")
def spark():
    if not (HAVE_PYSPARK and HAVE_JAVA):
        pytest.skip("pyspark or Java missing")
    from cloudtrail_pack.engine.spark import session

    s = session("local[2]")
    s.conf.set("spark.sql.shuffle.partitions", "2")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def spark_scan(spark, pack):
    """Scan with the Spark engine; results cached per input (a scan is seconds, not milliseconds)."""
    from cloudtrail_pack.engine.spark import scan
    from cloudtrail_pack.engine.results import Summary

    cache: dict = {}

    def run(*paths, rule_ids=None):
        key = (tuple(map(str, paths)), tuple(rule_ids or ()))
        if key not in cache:
            summary = Summary()
            cache[key] = (list(scan(list(paths), pack, rule_ids=rule_ids, summary=summary)), summary)
        return cache[key]

    return run


@pytest.fixture(scope="session")
def spark_scan_with(spark):
    """Scan with the Spark engine and another pack."""
    from cloudtrail_pack.engine.spark import scan

    def run(pack, *paths):
        return list(scan(list(paths), pack))

    return run


def _is_spark(item) -> bool:
    return "tests/spark/" in item.nodeid or item.nodeid.startswith("spark/")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every Spark test on one xdist worker (`--dist loadgroup`): one JVM for the suite, not one per worker
    (tests/conftest.py runs the group first). Tried first, before xdist's own hook reads the `xdist_group`
    marks into the test ids."""
    for item in items:
        if _is_spark(item):
            item.add_marker(pytest.mark.xdist_group("spark"))
