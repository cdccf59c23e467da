"""A rule value survives the envsubst that fills in the queries' placeholders (docs/athena.md): a value holding
`$ACCOUNT_IDS` or `${START_TIME}` reaches the engine as written, and the quoted account list never lands inside a
rule's string literal (where its quotes would end the literal and start SQL of their own)."""

from __future__ import annotations

import subprocess
from shutil import which

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.athena import AthenaBackend, CloudTrailLakeBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import athena_cloudtrail_pipeline, cloudtrail_lake_cloudtrail_pipeline

from . import tables

ENVSUBST = which("envsubst")
pytestmark = pytest.mark.skipif(ENVSUBST is None, reason="envsubst (GNU gettext) is not installed")

ACCOUNT = "111122223333"
ENV = {"ACCOUNT_IDS": f"'{ACCOUNT}'", "START_TIME": "2026-01-01 00:00:00", "END_TIME": "2026-01-02 00:00:00",
       "EVENT_DATA_STORE_ID": tables.LAKE_TABLE}
NAMES = "$ACCOUNT_IDS $START_TIME $END_TIME $EVENT_DATA_STORE_ID"
BACKENDS = {"athena": (AthenaBackend, athena_cloudtrail_pipeline, tables.athena_db),
            "cloudtrail_lake": (CloudTrailLakeBackend, cloudtrail_lake_cloudtrail_pipeline, tables.lake_db)}
PIECES = st.sampled_from(["$", "{", "}", "$ACCOUNT_IDS", "${START_TIME}", "$END_TIME", "$EVENT_DATA_STORE_ID", "'", "a", " ", "_", "%"])
VALUES = st.lists(PIECES, min_size=1, max_size=6).map("".join)
_DBS: dict = {}


def filled(target: str, value: str, modifier: str) -> str:
    backend, pipeline, _ = BACKENDS[target]
    rule = f"""
title: Test
id: 5f1b4d62-0000-4000-8000-000000000003
status: test
logsource: {{product: aws, service: cloudtrail}}
detection:
    sel:
        eventSource: iam.amazonaws.com
        userAgent{modifier}: {value!r}
    condition: sel
"""
    (sql,) = backend(pipeline()).convert(SigmaCollection.from_yaml(rule))
    return subprocess.run([ENVSUBST, NAMES], input=sql, capture_output=True, text=True, env=ENV, check=True).stdout


def record(eid: str, agent: str) -> dict:
    return {"eventVersion": "1.09", "eventID": eid, "eventTime": "2026-01-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
            "eventName": "DeleteUser", "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "userAgent": agent}


@pytest.mark.parametrize("target", list(BACKENDS))
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES, modifier=st.sampled_from(["", "|contains", "|cased"]))
@example(value="x$ACCOUNT_IDS", modifier="|cased")  # lowered values hide the defect: envsubst names are upper case
@example(value="${START_TIME}", modifier="|cased")
@example(value="$EVENT_DATA_STORE_ID'", modifier="|cased")
@example(value="${START_TIME}", modifier="|contains")
@example(value="cost $5", modifier="")
def test_a_value_reaches_the_engine_as_written_after_envsubst(target, value, modifier):
    sql = filled(target, value, modifier)
    for name in ("ACCOUNT_IDS", "START_TIME", "END_TIME", "EVENT_DATA_STORE_ID"):
        assert "${" + name + "}" not in sql  # every placeholder of the frame was filled in
    agents = [value, f"<{value}>", value.swapcase(), value.replace("$", ""), ENV["ACCOUNT_IDS"], "other"]
    records = [record(f"e{i}", a) for i, a in enumerate(agents)]
    load = BACKENDS[target][2]
    _DBS[target] = db = load(records, _DBS.get(target))
    rows = db.execute(tables.duckdb_sql(sql.rstrip().rstrip(";"))).fetchall()
    names = [d[0] for d in db.description]
    got = {dict(zip(names, row))["eventid"] for row in rows}
    agent = {"": lambda a: a.lower() == value.lower(), "|contains": lambda a: value.lower() in a.lower(), "|cased": lambda a: a == value}
    want = {r["eventID"] for r in records if agent[modifier](r["userAgent"])}
    assert got == want, sql


@pytest.mark.parametrize("backend", [AthenaBackend, CloudTrailLakeBackend])
def test_a_field_name_holding_a_shell_variable_is_refused(backend):
    pipeline = athena_cloudtrail_pipeline if backend is AthenaBackend else cloudtrail_lake_cloudtrail_pipeline
    rule = """
title: Test
id: 5f1b4d62-0000-4000-8000-000000000004
status: test
logsource: {product: aws, service: cloudtrail}
detection:
    sel:
        requestParameters.a$START_TIME: x
    condition: sel
"""
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=r"would be read as a variable by envsubst"):
        backend(pipeline()).convert(SigmaCollection.from_yaml(rule))
