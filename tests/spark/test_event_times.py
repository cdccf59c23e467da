"""A counted event whose eventTime is not a time: named by the Spark engine as by the default engine
(left out of the correlations, its own detections reported), never lost in silence."""

from __future__ import annotations

import json

from cloudtrail_pack.engine.results import Summary
from cloudtrail_pack.scan import scan

from .conftest import needs_spark

MASS_DELETION = "d7e97f60-0265-437d-82c5-a8489994eda7"


def record(event_id: str, time: str) -> dict:
    return {"eventVersion": "1.09", "eventTime": time, "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser",
            "eventID": event_id, "awsRegion": "us-east-1", "requestParameters": {"userName": f"user-{event_id}"},
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"}}


@needs_spark
def test_an_event_time_that_is_not_a_time_is_named_as_the_default_engine_names_it(tmp_path, spark_scan, pack):
    times = ["2026-03-01T10:00:00Z", "yesterday", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(record(f"e{i}", t)) + "\n" for i, t in enumerate(times)))
    (tmp_path / "b.json").write_text(json.dumps({"Records": [record("e9", "not a time")]}))
    matches, summary = spark_scan(tmp_path)
    default = Summary()
    assert matches == list(scan([tmp_path], pack, jobs=1, summary=default))
    assert [m.events for m in matches if m.rule_id == MASS_DELETION] == [["e0", "e2", "e3"]]
    assert sorted(summary.skipped) == sorted(default.skipped) == [
        (str(tmp_path / "a.jsonl"), "line 2: eventTime 'yesterday' is not a time: left out of the correlations "
         "(AWS IAM Access Removed From Several Users by One Principal; AWS IAM Mass User Deletion; AWS IAM User "
         "Created Then Deleted by the Same Principal; AWS IAM User "
         "Credentials Removed Then User Deleted by the Same Principal); its own detections are reported"),
        (str(tmp_path / "b.json"), "record 1: eventTime 'not a time' is not a time: left out of the correlations "
         "(AWS IAM Access Removed From Several Users by One Principal; AWS IAM Mass User Deletion; AWS IAM User "
         "Created Then Deleted by the Same Principal; AWS IAM User "
         "Credentials Removed Then User Deleted by the Same Principal); its own detections are reported"),
    ]
    assert summary.bad_records == default.bad_records == 2
