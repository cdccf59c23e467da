"""Every correlation type the Spark engine evaluates agrees with the default engine, on generated bursts
(letter case in group and value fields, ties in time, out-of-order steps), beyond the pack's three."""

from __future__ import annotations

import json
import random

import pytest

from cloudtrail_pack.engine.results import Alert
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.scan import scan

from .conftest import needs_spark

pytestmark = needs_spark

BASE = """title: Rule {n}
id: 00000000-0000-4000-8000-00000000000{i}
name: rule_{n}
status: test
description: test rule {n}
author: test
date: 2026-01-01
logsource: {{product: aws, service: cloudtrail}}
detection:
    sel: {{eventSource: test.amazonaws.com, eventName: {N}}}
    condition: sel
level: low
"""
CORRELATIONS = {
    "temporal_ab": "type: temporal\n    rules: [rule_a, rule_b]\n    group-by: [userIdentity.arn]\n    timespan: 5m",
    "ordered_ab": "type: temporal_ordered\n    rules: [rule_a, rule_b]\n    group-by: [userIdentity.arn]\n    timespan: 5m",
    "ordered_two_of_abc": "type: temporal_ordered\n    rules: [rule_a, rule_b, rule_c]\n    group-by: [userIdentity.arn]\n"
                          "    timespan: 5m\n    condition: {gte: 2}",
    "values_below_two": "type: value_count\n    rules: [rule_a, rule_c]\n    group-by: [userIdentity.arn]\n    timespan: 3m\n"
                        "    condition: {lt: 2, field: requestParameters.userName}",
    "count_by_two_fields": "type: event_count\n    rules: [rule_b, rule_c]\n    group-by: [userIdentity.arn, requestParameters.userName]\n"
                           "    timespan: 2m\n    condition: {gte: 2}",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    rules = tmp_path_factory.mktemp("rules")
    for i, n in enumerate("abc", 1):
        (rules / f"rule_{n}.yml").write_text(BASE.format(n=n, N=n.upper(), i=i))
    for i, (name, body) in enumerate(sorted(CORRELATIONS.items()), 1):
        (rules / f"{name}.yml").write_text(
            f"title: {name}\nid: 00000000-0000-4000-9000-00000000000{i}\nname: {name}\nstatus: test\n"
            f"description: {name}\nauthor: test\ndate: 2026-01-01\ncorrelation:\n    {body}\n    generate: true\nlevel: high\n"
        )
    rng = random.Random(1531)
    events = []
    for n in range(240):
        second = rng.choice([rng.randrange(0, 2400), 600, 660])  # ties at 600 and 660
        events.append({
            "eventVersion": "1.09", "eventTime": f"2026-03-01T10:{second // 60:02d}:{second % 60:02d}Z",
            "eventSource": "test.amazonaws.com", "eventName": rng.choice("ABCX"), "eventID": f"e{n:03d}",
            "userIdentity": {"type": "IAMUser", "arn": rng.choice(["arn:p1", "ARN:P1", "arn:p2", "arn:p3"])},
            "requestParameters": {"userName": rng.choice(["u1", "U1", "u2", None])},
        })
    data = tmp_path_factory.mktemp("events") / "events.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in events))
    return load_pack(rules), data


def test_generated_bursts_raise_the_default_engines_alerts(generated, spark_scan_with):
    pack, data = generated
    expected = list(scan([data], pack, jobs=1))
    got = spark_scan_with(pack, data)
    assert {m.rule_id for m in expected if isinstance(m, Alert)} == {
        f"00000000-0000-4000-9000-00000000000{i}" for i in range(1, len(CORRELATIONS) + 1)
    }
    assert got == expected
