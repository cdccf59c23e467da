"""The CloudTrail -> ECS converter against the AWS integration's own pipeline test expectations, and the
pipeline's less obvious behaviours one by one."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from elastic_ingest import ecs_field_values, java_double, java_to_string, JMap, to_ecs

CASES = json.loads((Path(__file__).parent / "data" / "integration_pipeline_cases.json").read_text(encoding="utf-8"))["cases"]

#: Fields the converter does not produce (module docstring of elastic_ingest) or that the
#: integration added after the pipeline version the expectation was written with.
NOT_COMPARED = ("related", "tags", "event.created", "event.original")
#: The grok extract_user_name_from_arn (user.changes.name of assumed roles) is newer than commit 0046748f.
NEWER_THAN_0046748F = ("user.changes.name",)


def _drop(doc: dict, path: str) -> None:
    parts = path.split(".")
    node = doc
    for p in parts[:-1]:
        node = node.get(p, {})
    node.pop(parts[-1], None)
    if len(parts) > 1 and not node:
        _drop(doc, ".".join(parts[:-1]))


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c['source']).name}[{c['index']}]" for c in CASES])
def test_converter_reproduces_the_integrations_expected_document(case):
    got = to_ecs(case["record"], retain=case.get("retain"))
    for path in NOT_COMPARED + (NEWER_THAN_0046748F if case["commit"].startswith("0046748f") else ()):
        _drop(got, path)
    assert got == case["expected"]


def test_related_user_of_the_newest_expectation():
    case = next(c for c in CASES if "related_user" in c)
    assert to_ecs(case["record"], retain=case.get("retain"))["related"]["user"] == case["related_user"]


def test_request_parameters_string_is_javas_hashmap_rendering():
    assert java_to_string(JMap.built([("userName", "Bob"), ("accessKeyId", "EXAMPLE_ID")])) == "{accessKeyId=EXAMPLE_ID, userName=Bob}"


def test_java_double_rendering():
    assert [java_double(d) for d in (1.5, 100.0, 1e7, 1e-4, 0.001)] == ["1.5", "100.0", "1.0E7", "1.0E-4", "0.001"]


def test_error_code_sets_outcome_failure():
    doc = to_ecs({**CASES[0]["record"], "errorCode": "AccessDenied", "errorMessage": "denied"})
    assert (doc["event"]["outcome"], doc["aws"]["cloudtrail"]["error_code"]) == ("failure", "AccessDenied")


def test_error_message_alone_also_sets_outcome_failure():
    doc = to_ecs({**CASES[0]["record"], "errorMessage": "denied"})
    assert doc["event"]["outcome"] == "failure" and "error_code" not in doc["aws"]["cloudtrail"]


def test_dash_and_none_values_are_deleted_at_ingest():
    record = copy.deepcopy(CASES[0]["record"])
    record["userAgent"] = "-"
    record["requestParameters"]["userName"] = "none"
    doc = to_ecs(record)
    assert "user_agent" not in doc
    assert doc["aws"]["cloudtrail"]["flattened"]["request_parameters"] == {"accessKeyId": "EXAMPLE_ID"}


def test_service_name_in_source_address_is_not_an_ip():
    doc = to_ecs({**CASES[0]["record"], "sourceIPAddress": "iam.amazonaws.com"})
    assert doc["source"] == {"address": "iam.amazonaws.com"}


def test_shared_event_id_is_dropped_by_the_integration():
    doc = to_ecs({**CASES[0]["record"], "sharedEventID": "x-1"})
    assert "shared_event_id" not in doc["aws"]["cloudtrail"] and "x-1" not in json.dumps(doc)


def test_recipient_account_fills_cloud_account_when_user_identity_has_none():
    record = copy.deepcopy(CASES[0]["record"])
    del record["userIdentity"]["accountId"]
    record["recipientAccountId"] = "444455556666"
    assert to_ecs(record)["cloud"]["account"]["id"] == "444455556666"


def test_assumed_role_with_a_non_sts_arn_fails_the_pipeline():
    record = copy.deepcopy(CASES[5]["record"])
    record["userIdentity"]["arn"] = "arn:aws-us-gov:sts::111111111111:assumed-role/JohnDoe/JohnRole1"
    doc = to_ecs(record)
    assert doc["event"]["kind"] == "pipeline_error" and "Grok" in doc["error"]["message"][0]


def test_retain_flattened_removes_the_string_copies():
    doc = to_ecs(CASES[0]["record"], retain="flattened")
    assert "request_parameters" not in doc["aws"]["cloudtrail"]
    assert doc["aws"]["cloudtrail"]["flattened"]["request_parameters"]["userName"] == "Bob"


def test_field_values_reads_dotted_keys_and_arrays():
    doc = {"a": {"b.c": [1, {"d": 2}], "b": {"c": 3}}}
    assert ecs_field_values(doc, "a.b.c") == [1, 3] and ecs_field_values(doc, "a.b.c.d") == [2]
