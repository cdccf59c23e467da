"""Correlations as windowed SQL: the query spelled out, refusals with their reason, and sliding windows executed
against the reference engine where fixed buckets would differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.backends.athena import AthenaBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import athena_cloudtrail_pipeline

from cloudtrail_pack.compilation import compile_pack
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import Pack, PackRule
from cloudtrail_pack.registry import TARGETS

from . import tables
from .test_agreement import merged

BASE = """
title: Delete user
id: 0b40a563-0000-4000-8000-000000000001
name: delete_user
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: iam.amazonaws.com
        eventName: DeleteUser
    condition: selection
---
title: Create key
id: 0b40a563-0000-4000-8000-000000000002
name: create_key
status: test
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventName: CreateAccessKey
    condition: selection
"""


def correlation(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return BASE + f"---\ntitle: Correlation\nid: 0b40a563-0000-4000-8000-0000000000ff\nstatus: test\ncorrelation:\n{lines}\n"


def convert(text: str) -> str:
    return AthenaBackend(athena_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(text))[-1]


def test_event_count_query():
    assert convert(correlation("type: event_count\nrules: [delete_user]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition:\n    gte: 3")) == (
        "WITH hits AS (\n"
        "  SELECT *\n"
        "  FROM cloudtrail_organization\n"
        "  WHERE account IN (${ACCOUNT_IDS})\n"
        "    AND region = 'us-east-1'\n"
        "    AND \"timestamp\" BETWEEN replace(substr('${START_TIME}', 1, 10), '-', '/')\n"
        "      AND date_format(date_add('day', 1, from_iso8601_date(substr('${END_TIME}', 1, 10))), '%Y/%m/%d')\n"
        "    AND eventtime >= replace('${START_TIME}', ' ', 'T') AND eventtime < replace('${END_TIME}', ' ', 'T')\n"
        "),\n"
        "matches AS (\n"
        "  SELECT DISTINCT eid, ts, slot, g0, v FROM (\n"
        "    SELECT eventid AS eid, to_unixtime(from_iso8601_timestamp(eventtime)) AS ts, 0 AS slot, lower(useridentity.arn) AS g0, CAST(NULL AS varchar) AS v\n"
        "    FROM hits\n"
        "    WHERE (eventsource = 'iam.amazonaws.com' AND eventname = 'DeleteUser')\n"
        "  ) AS hit\n"
        "  WHERE eid IS NOT NULL AND ts IS NOT NULL AND g0 IS NOT NULL\n"
        "),\n"
        "windows AS (\n"
        "  SELECT DISTINCT ts - 600 AS window_start, ts AS window_end, g0 FROM matches\n"
        "),\n"
        "alerts AS (\n"
        "  SELECT w.window_start, w.window_end, w.g0, count(DISTINCT m.eid) AS metric, array_agg(DISTINCT m.eid) AS event_ids\n"
        "  FROM windows w INNER JOIN matches m ON m.g0 = w.g0 AND m.ts BETWEEN w.window_start AND w.window_end\n"
        "  GROUP BY w.window_start, w.window_end, w.g0\n"
        "  HAVING count(DISTINCT m.eid) >= 3\n"
        ")\n"
        'SELECT from_unixtime(window_start) AS window_start, from_unixtime(window_end) AS window_end, g0 AS "userIdentity.arn",\n'
        "       metric AS event_count, array_sort(event_ids) AS event_ids\n"
        "FROM alerts\n"
        "ORDER BY window_end, g0, window_start"
    )


def test_the_time_range_is_read_once():
    """One scan of the table, bounded once by the accounts, days and times, whatever the number of rules."""
    sql = convert(correlation("type: event_count\nrules: [delete_user, create_key]\ntimespan: 10m\ncondition:\n    gte: 3"))
    assert sql.count("FROM cloudtrail_organization") == 1 and sql.count("${ACCOUNT_IDS}") == 1
    assert sql.count("${START_TIME}") == 2 and sql.count("${END_TIME}") == 2 and "?" not in sql


def test_value_count_counts_lowered_values():
    sql = convert(correlation(
        "type: value_count\nrules: [delete_user]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition:\n    field: requestParameters.userName\n    gte: 3"
    ))
    assert "HAVING count(DISTINCT lower(m.v)) >= 3" in sql
    assert "json_extract_scalar(requestparameters, '$.userName') AS v" in sql


@pytest.mark.parametrize(
    "body, reason",
    [
        ("type: value_sum\nrules: [delete_user]\ntimespan: 10m\ncondition:\n    field: requestParameters.x\n    gte: 3", "value_sum correlation"),
        ("type: temporal_ordered\nrules: [delete_user, create_key]\ntimespan: 10m\ncondition:\n    gte: 2", "temporal_ordered correlation with a count condition"),
        ("type: temporal\nrules: [delete_user, create_key]\ntimespan: 10m\ncondition: delete_user and not create_key", "with `not`"),
        (
            ("type: event_count\nrules: [delete_user, create_key]\ngroup-by: [principal]\naliases:\n    principal:\n"
            "        delete_user: userIdentity.arn\n        create_key: userIdentity.arn\ntimespan: 10m\ncondition:\n    gte: 2"),
            "aliases",
        ),
    ],
)
def test_refused_correlations(body, reason):
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=reason):
        convert(correlation(body))


# ---- executed: sliding windows as the reference's plan ----------------------------------------------------------


def delete_user(event_id: str, when: str, arn: str = "arn:aws:iam::111122223333:user/ops", user: str | None = None) -> dict:
    return {
        "eventVersion": "1.09", "eventID": event_id, "eventTime": when, "eventSource": "iam.amazonaws.com",
        "eventName": "DeleteUser", "userIdentity": {"type": "IAMUser", "arn": arn},
        "requestParameters": {"userName": user or f"user-{event_id}"},
    }


def pack_of(text: str) -> Pack:
    rules = SigmaCollection.from_yaml(text).rules
    return Pack(rules=[PackRule(r, Path(f"r{i}.yml"), 0) for i, r in enumerate(rules)], root=Path("."), collection=SigmaCollection(rules))


MASS = correlation("type: event_count\nrules: [delete_user]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ngenerate: true\ncondition:\n    gte: 3")
DISTINCT = correlation(
    "type: value_count\nrules: [delete_user]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ngenerate: true\ncondition:\n    field: requestParameters.userName\n    gte: 3"
)
CASES = {
    "burst across a 10-minute boundary": (MASS, [delete_user(f"e{i}", t) for i, t in enumerate(["2026-11-23T10:08:00Z", "2026-11-23T10:09:00Z", "2026-11-23T10:11:00Z"])]),
    "exactly the timespan apart": (MASS, [delete_user(f"e{i}", t) for i, t in enumerate(["2026-11-23T10:00:00Z", "2026-11-23T10:05:00Z", "2026-11-23T10:10:00Z"])]),
    "one second too far": (MASS, [delete_user(f"e{i}", t) for i, t in enumerate(["2026-11-23T10:00:00Z", "2026-11-23T10:05:00Z", "2026-11-23T10:10:01Z"])]),
    "group in other letter case": (MASS, [delete_user(f"e{i}", f"2026-11-23T10:0{i}:00Z", arn) for i, arn in enumerate(["arn:x:OPS", "arn:x:ops", "arn:x:Ops"])]),
    "two bursts of four": (MASS, [delete_user(f"e{i}", f"2026-11-23T{10 + i // 4:02d}:0{i % 4}:00Z") for i in range(8)]),
    "same user twice counts once": (DISTINCT, [delete_user(f"e{i}", f"2026-11-23T10:0{i}:00Z", user=u) for i, u in enumerate(["a", "A", "b"])]),
    "three distinct users": (DISTINCT, [delete_user(f"e{i}", f"2026-11-23T10:0{i}:00Z", user=u) for i, u in enumerate(["a", "B", "c", "a"])]),
}


@pytest.mark.parametrize("target", ["athena", "cloudtrail_lake"])
@pytest.mark.parametrize("case", CASES)
def test_windows_agree_with_reference(case, target):
    text, records = CASES[case]
    pack = pack_of(text)
    correlation_rule = pack.rules[-1]
    compiled = compile_pack(pack, [(TARGETS[target], "default")])
    (sql,) = compiled.queries(correlation_rule, target)
    load, run = (tables.athena_db, tables.run_athena) if target == "athena" else (tables.lake_db, tables.run_lake)
    rows = run(sql, load(records))
    expected = {i for i in ReferenceEngine(pack).run(records).incidents() if i[0] == correlation_rule.id}
    assert merged(correlation_rule, rows) == expected


#: How many incidents the reference finds in each case (so that agreement is not agreement on nothing).
INCIDENTS = {
    "burst across a 10-minute boundary": 1,
    "exactly the timespan apart": 1,
    "one second too far": 0,
    "group in other letter case": 1,
    "two bursts of four": 2,
    "same user twice counts once": 0,
    "three distinct users": 1,
}


@pytest.mark.parametrize("case", CASES)
def test_reference_incidents_per_case(case):
    text, records = CASES[case]
    pack = pack_of(text)
    assert len({i for i in ReferenceEngine(pack).run(records).incidents() if i[0] == pack.rules[-1].id}) == INCIDENTS[case]
