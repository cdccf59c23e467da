"""Input that is not CloudTrail is reported with the file and the reason, never a crash, and the rest
is scanned; a missing pyspark or Java is one clear error."""

from __future__ import annotations

import builtins
import gzip
import json
from pathlib import Path

import pytest

from cloudtrail_pack.engine import spark as spark_engine
from cloudtrail_pack.engine.results import Alert
from cloudtrail_pack.engine.spark import INSTALL_HINT, SparkUnavailable

from .conftest import needs_spark

DELETE_USER = "0b40a563-9611-430c-ac03-6536096733f9"
LEAVE = "bb3c7f15-92b2-4692-b858-39e6562b8704"


def record(name, event_id, source="iam.amazonaws.com"):
    return {"eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": source, "eventName": name,
            "eventID": event_id, "awsRegion": "us-east-1",
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}


@pytest.fixture(scope="module")
def broken(tmp_path_factory, spark_scan):
    folder = tmp_path_factory.mktemp("broken")
    (folder / "good.json.gz").write_bytes(gzip.compress(json.dumps(
        {"Records": [record("LeaveOrganization", "e1", "organizations.amazonaws.com")]}).encode()))
    (folder / "truncated.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [record("DeleteUser", "e2")]}).encode())[:-10])
    (folder / "cut.json").write_text(json.dumps({"Records": [record("DeleteUser", "e3")]})[:-30])
    (folder / "empty.json").write_text("")
    (folder / "lines.jsonl").write_text("\n".join([
        json.dumps(record("DeleteUser", "e4")), "{not json", json.dumps({"eventName": "DeleteUser"}),
        json.dumps(record("DeleteUser", "e5")),
    ]) + "\n")
    (folder / "odd name é %20.jsonl").write_text(json.dumps(record("DeleteUser", "e6")) + "\n")
    matches, summary = spark_scan(folder)
    return folder, matches, summary


@needs_spark
def test_good_events_are_found_around_broken_ones(broken):
    folder, matches, _ = broken
    detections = [m for m in matches if not isinstance(m, Alert)]
    assert [(m.eventID, m.rule_id, Path(m.file).name) for m in detections] == [
        ("e1", LEAVE, "good.json.gz"), ("e4", DELETE_USER, "lines.jsonl"), ("e5", DELETE_USER, "lines.jsonl"),
        ("e6", DELETE_USER, "odd name é %20.jsonl"),
    ]
    assert detections[-1].file == str(folder / "odd name é %20.jsonl")
    # the three deletions read (none from the truncated or cut files) make the mass-deletion alert
    assert [m.events for m in matches if isinstance(m, Alert)] == [["e4", "e5", "e6"]]


@needs_spark
def test_every_file_or_record_not_read_is_named_with_the_reason(broken):
    _, _, summary = broken
    reasons = {(Path(p).name, r) for p, r in summary.skipped}
    assert reasons == {
        ("cut.json", "invalid JSON: the file is not read (Spark reads a JSON document whole)"),
        ("empty.json", "empty: no CloudTrail events"),
        ("truncated.json.gz", "corrupt or truncated gzip (Spark could not read it)"),
        ("lines.jsonl", "line 2: invalid JSON"),
        ("lines.jsonl", "line 3: not a CloudTrail event (no eventSource, eventName, eventTime or eventID, or a userIdentity that is not an object)"),
    }
    assert summary.files == 6 and summary.events == 4 and summary.bad_records == 2


@needs_spark
def test_a_file_with_more_problems_than_are_listed_counts_the_rest_as_the_default_engine_does(tmp_path, spark_scan):
    (tmp_path / "a.jsonl").write_text("not json\n" * 60 + json.dumps(record("DeleteUser", "e1")) + "\n")
    matches, summary = spark_scan(tmp_path)
    assert [m.eventID for m in matches] == ["e1"]
    assert summary.bad_records == 60 and summary.files == 1 and len(summary.skipped) == 51
    assert summary.skipped[:2] == [(str(tmp_path / "a.jsonl"), "line 1: invalid JSON"),
                                   (str(tmp_path / "a.jsonl"), "line 2: invalid JSON")]
    assert summary.skipped[-1] == (str(tmp_path / "a.jsonl"), "and 10 more records not read")


@needs_spark
def test_a_file_spark_cannot_decompress_under_a_uri_is_reported(broken, spark_scan):
    folder, _, _ = broken
    _, summary = spark_scan(folder.as_uri())
    assert (str(folder / "truncated.json.gz"), "corrupt or truncated gzip (Spark could not read it)") in summary.skipped


def test_missing_pyspark_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(SparkUnavailable, match="pyspark is not installed") as error:
        spark_engine.session()
    assert INSTALL_HINT in str(error.value) and INSTALL_HINT == "pip install '.[spark]'; needs Java 17+"


def test_missing_java_says_what_spark_needs(monkeypatch):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: None)
    with pytest.raises(SparkUnavailable, match="no Java runtime found") as error:
        spark_engine.session()
    assert str(error.value).endswith(INSTALL_HINT)
