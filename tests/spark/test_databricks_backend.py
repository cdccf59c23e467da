"""Why the Spark engine does not use pySigma-backend-databricks (docs/spark.md): measured on Spark.

Its queries read nested fields as struct fields of an inferred schema and compare fields with `=`:
a self-service access-key rotation written in another letter case alerts (the reference compares
fieldref case-insensitively), a field no scanned file holds makes the whole query fail, and
correlations do not convert. If one of these tests starts failing, the backend deserves a new look."""

from __future__ import annotations

import json

import pytest
from pyspark.errors import AnalysisException
from sigma.backends.databricks import DatabricksBackend
from sigma.collection import SigmaCollection

from cloudtrail_pack.engine.reference import ReferenceEngine

from .conftest import needs_spark

pytestmark = needs_spark

ACCESS_KEY = "4b9e1931-380b-48fe-beb5-ee3c4a2edb4d"
ROTATION = {  # an IAM user deleting its own key, its name written in another case in the request
    "eventVersion": "1.09", "eventTime": "2026-03-01T10:00:00Z", "eventSource": "iam.amazonaws.com",
    "eventName": "DeleteAccessKey", "eventID": "rotation", "awsRegion": "us-east-1",
    "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
    "requestParameters": {"userName": "Alice", "accessKeyId": "AKIAEXAMPLE", "status": "Inactive"},
}


def databricks_query(pack, rule_id):
    (query,) = DatabricksBackend().convert(SigmaCollection([pack.by_id(rule_id).rule]))
    return query


def frame(spark, records):
    return spark.read.json(spark.sparkContext.parallelize([json.dumps(r) for r in records]))


def test_its_fieldref_is_case_sensitive_where_sigma_is_not(spark, pack):
    assert ReferenceEngine(pack).run([ROTATION]).matches["rotation"] == frozenset()
    query = databricks_query(pack, ACCESS_KEY)
    assert "requestParameters.userName = userIdentity.userName" in query
    assert frame(spark, [ROTATION]).where(query).count() == 1  # alerts on self-service


def test_a_field_absent_from_the_scanned_files_fails_the_whole_query(spark, pack):
    without_status = {k: v for k, v in ROTATION.items() if k != "requestParameters"}
    with pytest.raises(AnalysisException):
        frame(spark, [without_status]).where(databricks_query(pack, ACCESS_KEY)).count()


def test_correlations_do_not_convert(pack):
    mass_deletion = pack.by_id("d7e97f60-0265-437d-82c5-a8489994eda7")
    rules = [pack.by_id("0b40a563-9611-430c-ac03-6536096733f9").rule, mass_deletion.rule]
    with pytest.raises(NotImplementedError, match="does not support correlation rules"):
        DatabricksBackend().convert(SigmaCollection(rules))
