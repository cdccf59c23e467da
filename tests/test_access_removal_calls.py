"""Which calls the issue-21 access-removal rules alert on, against AWS's own API models and an independent reading of
each rule: of every IAM Identity Center admin operation (botocore's sso-admin model) only DeleteAccountAssignment
and DeletePermissionSet alert, and of every IAM operation only the other-credentials rule's seven; generated records
of those calls (who acted, on whom, which status) get the oracle's verdict from the reference engine and from
every target's shipped query run by its evaluator (Logs Insights, SPL, EQL, ES|QL, Athena and CloudTrail Lake in
DuckDB)."""

from __future__ import annotations

import gzip
import json
import sys
from functools import cache
from pathlib import Path

import botocore
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.pipelines.cloudtrail.ecs_fields import ECS_DROPPED_VALUES
from sigma.pipelines.cloudtrail.splunk import SCOPE_DEFINITION, SCOPE_MACRO

from athena import tables
from cloudtrail_pack.compilation import compile_rules
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.registry import TARGETS
from elastic_ingest import to_ecs
from evaluators import esql
from evaluators import logs_insights as li
from evaluators.spl import SplunkEvaluator

sys.path.insert(0, str(Path(__file__).parent / "elastic"))
import elastic_eql  # noqa: E402

ASSIGNMENT = "80b33875-2f3d-4e65-8f01-f47997d277bd"
PERMISSION_SET = "93489688-02ab-4930-91e8-ef1b62136d9f"
OTHER_CREDENTIALS = "95559af0-bf25-4ec0-9eb5-8924bd2da681"
DELETES = {"DeleteSSHPublicKey", "DeleteServiceSpecificCredential", "DeleteSigningCertificate"}
UPDATES = {"UpdateSSHPublicKey", "UpdateServiceSpecificCredential", "UpdateSigningCertificate"}
RESET = "ResetServiceSpecificCredential"


def operations(service: str) -> list[str]:
    """Every operation of an AWS service's newest API model shipped with botocore."""
    model = sorted((Path(botocore.__file__).parent / "data" / service).glob("*/service-2.json*"))[-1]
    raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
    return sorted(json.loads(raw)["operations"])


@cache
def engine() -> ReferenceEngine:
    return ReferenceEngine(load_pack()).only([ASSIGNMENT, PERMISSION_SET, OTHER_CREDENTIALS])


def call(i: int, source: str, name: str, identity: dict, parameters: dict) -> dict:
    return {
        "eventVersion": "1.11",
        "eventTime": f"2026-05-21T11:{i // 60:02d}:{i % 60:02d}Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventID": f"e{i}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        "userIdentity": identity,
        "requestParameters": parameters,
    }


ROLE = {"type": "AssumedRole", "principalId": "AROAEXAMPLE:admin", "arn": "arn:aws:sts::111122223333:assumed-role/admin/s"}


def test_of_every_identity_center_admin_call_only_the_two_deletions_alert():
    names = operations("sso-admin")
    assert {"CreateAccountAssignment", "ListAccountAssignments", "DescribeAccountAssignmentDeletionStatus"} <= set(names)
    batch = [call(i, "sso.amazonaws.com", n, ROLE, {"instanceArn": "arn:aws:sso:::instance/ssoins-7223c1a2b3d4e5f6"})
             for i, n in enumerate(names)]
    verdict = engine().run(batch)
    alerting = {r["eventName"]: sorted(verdict.matches[r["eventID"]]) for r in batch if verdict.matches[r["eventID"]]}
    assert alerting == {"DeleteAccountAssignment": [ASSIGNMENT], "DeletePermissionSet": [PERMISSION_SET]}


def test_the_identity_center_rules_need_their_event_source():
    """IAM Identity Center's own console service and the Identity Store have calls of other names only, but a
    same-named call of another service must stay silent all the same."""
    batch = [call(i, s, n, ROLE, {}) for i, (s, n) in enumerate(
        [("identitystore.amazonaws.com", "DeleteAccountAssignment"), ("sso-directory.amazonaws.com", "DeletePermissionSet"),
         ("iam.amazonaws.com", "DeleteAccountAssignment")])]
    verdict = engine().run(batch)
    assert not any(verdict.matches[r["eventID"]] for r in batch)


def test_of_every_iam_call_only_the_other_credential_removals_alert():
    """A role acting on another user with status Inactive: the most any IAM call can look like a removal."""
    names = operations("iam")
    assert DELETES | UPDATES | {RESET} <= set(names)
    batch = [call(i, "iam.amazonaws.com", n, ROLE, {"userName": "bob", "status": "Inactive"}) for i, n in enumerate(names)]
    verdict = engine().run(batch)
    assert {r["eventName"] for r in batch if OTHER_CREDENTIALS in verdict.matches[r["eventID"]]} == DELETES | UPDATES | {RESET}


# ------------------------------------------------------------------------------------------------ who acted on whom
NAMES = ["bob", "Bob", "BOB", "bobby", "jane.doe@example.com", "JANE.DOE@example.com", "a+b=c,d", "-", "none"]
TYPES = ["IAMUser", "AssumedRole", "Root", "FederatedUser"]
CALLS = sorted(DELETES | UPDATES | {RESET, "UploadSSHPublicKey", "ListServiceSpecificCredentials", "UpdateAccessKey"})
STATUSES = ["Active", "Inactive", None]
row = st.tuples(st.sampled_from(CALLS), st.sampled_from(STATUSES), st.sampled_from(TYPES),
                st.sampled_from(NAMES + [None]), st.sampled_from(NAMES + [None]))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def identity(i: int, kind: str, caller: str | None) -> dict:
    arn = {"IAMUser": f"arn:aws:iam::111122223333:user/{caller}", "Root": "arn:aws:iam::111122223333:root",
           "AssumedRole": f"arn:aws:sts::111122223333:assumed-role/{caller}/s{i}",
           "FederatedUser": f"arn:aws:sts::111122223333:federated-user/s{i}"}[kind]
    out = {"type": kind, "principalId": f"AIDAEXAMPLE{i:04d}", "arn": arn}
    if kind == "IAMUser" and caller is not None:
        out["userName"] = caller
    if kind in ("AssumedRole", "FederatedUser") and caller is not None:
        issuer = "Role" if kind == "AssumedRole" else "IAMUser"
        out["sessionContext"] = {"sessionIssuer": {"type": issuer, "userName": caller}}
    return out


def record(i: int, name: str, status: str | None, kind: str, caller: str | None, target: str | None) -> dict:
    parameters = {"certificateId": f"C{i:04d}"}
    if status is not None:
        parameters["status"] = status
    if target is not None:
        parameters["userName"] = target
    return call(i, "iam.amazonaws.com", name, identity(i, kind, caller), parameters)


def oracle(r: dict) -> bool:
    """The rule as its description states it, written independently of Sigma."""
    name, parameters, who = r["eventName"], r["requestParameters"], r["userIdentity"]
    removal = name in DELETES or name == RESET or (name in UPDATES and parameters.get("status") == "Inactive")
    target = parameters.get("userName")
    own = who["type"] == "IAMUser" and (target is None or target.lower() == (who.get("userName") or "").lower())
    return removal and not own


@cache
def queries() -> dict[str, str]:
    pack = load_pack()
    rule = pack.by_id(OTHER_CREDENTIALS)
    return {t: compile_rules(pack, TARGETS[t], rules=[rule])[OTHER_CREDENTIALS][0]
            for t in ("cloudwatch", "splunk", "eql", "esql", "athena", "cloudtrail_lake")}


@SETTINGS
@given(rows=st.lists(row, min_size=1, max_size=8))
@example(rows=[("UpdateSSHPublicKey", "Inactive", "IAMUser", "bob", "BOB")])  # itself, another case: silent
@example(rows=[("DeleteServiceSpecificCredential", None, "IAMUser", "bob", None)])  # no userName: its own, silent
@example(rows=[("DeleteSigningCertificate", None, "Root", None, None)])  # the root user always alerts
@example(rows=[("ResetServiceSpecificCredential", None, "AssumedRole", "bob", "bob")])  # a role named as the user
@example(rows=[("UpdateServiceSpecificCredential", "Active", "AssumedRole", "ops", "bob")])  # re-enabled: silent
@example(rows=[("UpdateSigningCertificate", None, "AssumedRole", "ops", "bob")])  # no status: silent
@example(rows=[("DeleteSSHPublicKey", None, "IAMUser", "bob", "bobby")])  # a prefix is another user
@example(rows=[("UpdateAccessKey", "Inactive", "AssumedRole", "ops", "bob")])  # the access-key rule's, not this one
def test_every_target_gives_the_rules_meaning_on_who_acted_on_whom(rows):
    batch = [record(i, *r) for i, r in enumerate(rows)]
    expected = {r["eventID"] for r in batch if oracle(r)}
    verdict = engine().run(batch)
    assert {r["eventID"] for r in batch if OTHER_CREDENTIALS in verdict.matches[r["eventID"]]} == expected
    q = queries()
    assert {r["eventID"] for r in batch if li.matches(q["cloudwatch"], r)} == expected
    splunk = SplunkEvaluator({SCOPE_MACRO: SCOPE_DEFINITION, "cloudtrail_detection_pack_aws_iam_user_other_credentials_removed_filter": "search *"})
    assert {batch[i]["eventID"] for found in splunk.run(q["splunk"], batch) for i in found.sources} == expected
    assert {row["eventid"] for row in tables.run_athena(q["athena"], tables.athena_db(batch))} == expected
    assert {row["eventid"] for row in tables.run_lake(q["cloudtrail_lake"], tables.lake_db(batch))} == expected
    # The Elastic integration deletes the values '-' and 'none' (docs/elastic.md, Field references).
    kept = [r for r in batch if r["requestParameters"].get("userName") not in ECS_DROPPED_VALUES
            and r["userIdentity"].get("userName") not in ECS_DROPPED_VALUES]
    docs = [to_ecs(r) for r in kept]
    in_elastic = {r["eventID"] for r in kept} & expected
    assert {d["event"]["id"] for seq in elastic_eql.run(q["eql"], docs) for d in seq} == in_elastic
    assert {d["event"]["id"] for d in esql.run(q["esql"], docs).documents} == in_elastic


@pytest.mark.parametrize("name", sorted(DELETES | UPDATES | {RESET}))
def test_the_oracle_is_not_vacuous(name):
    """Each call alerts for a role on another user (with Inactive where the call takes a status)."""
    assert oracle(record(0, name, "Inactive", "AssumedRole", "ops", "bob"))
    assert not oracle(record(0, name, "Inactive", "IAMUser", "bob", None))
