"""Who did it to whom, on generated records: the MFA rule's self-service exclusion (requestParameters.userName
equal to userIdentity.userName for an IAMUser, or absent) compiled for every target that ships it, each query
run by its evaluator, must give the reference engine's verdict. The names are IAM user names (ASCII, IAM's
`[\\w+=,.@-]+`) that differ in case, by a prefix, or not at all; fields come and go. Elastic is left out for the
names its integration deletes ('-', 'none': docs/elastic.md, Field references)."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.pipelines.cloudtrail.ecs_fields import ECS_DROPPED_VALUES
from sigma.pipelines.cloudtrail.splunk import SCOPE_DEFINITION, SCOPE_MACRO

from cloudtrail_pack.compilation import compile_rules
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.registry import TARGETS
from elastic_ingest import to_ecs
from evaluators import esql
from evaluators import logs_insights as li
from evaluators.spl import SplunkEvaluator

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "elastic"))
import elastic_eql  # noqa: E402

MFA = "547ae2af-3af7-419c-96c5-6b20daf00fef"
NAMES = ["bob", "Bob", "BOB", "bobby", "bo", "jane.doe@example.com", "JANE.DOE@example.com", "a+b=c,d", "-", "none"]
TYPES = ["IAMUser", "AssumedRole", "Root", "FederatedUser"]
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

records = st.lists(
    st.tuples(st.sampled_from(TYPES), st.sampled_from(NAMES + [None]), st.sampled_from(NAMES + [None])),
    min_size=1,
    max_size=6,
)


def record(i: int, identity_type: str, caller: str | None, target: str | None) -> dict:
    arn = {
        "IAMUser": f"arn:aws:iam::111122223333:user/{caller}",
        "AssumedRole": f"arn:aws:sts::111122223333:assumed-role/{caller}/session{i}",
        "FederatedUser": f"arn:aws:sts::111122223333:federated-user/session{i}",
        "Root": "arn:aws:iam::111122223333:root",
    }[identity_type]
    identity = {"type": identity_type, "principalId": f"AIDAEXAMPLE{i:04d}", "arn": arn}
    if identity_type == "IAMUser" and caller is not None:
        identity["userName"] = caller  # CloudTrail writes it for every IAM user; absent here, the filter still holds
    if identity_type in ("AssumedRole", "FederatedUser") and caller is not None:
        # the role, or the IAM user that federated: user.name on Elastic (the reason for the IAMUser pin)
        issuer = "Role" if identity_type == "AssumedRole" else "IAMUser"
        identity["sessionContext"] = {"sessionIssuer": {"type": issuer, "userName": caller}}
    parameters = {"serialNumber": f"arn:aws:iam::111122223333:mfa/d{i}"}
    if target is not None:
        parameters["userName"] = target
    return {
        "eventVersion": "1.09",
        "eventTime": f"2026-11-23T10:{i:02d}:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "DeactivateMFADevice",
        "awsRegion": "us-east-1",
        "eventID": f"e{i}",
        "userIdentity": identity,
        "requestParameters": parameters,
    }


@cache
def compiled():
    """The reference engine for the rule, and the shipped query of each target (compiled once)."""
    from cloudtrail_pack.pack import load_pack

    pack = load_pack()
    rule = pack.by_id(MFA)
    queries = {target: compile_rules(pack, TARGETS[target], rules=[rule])[MFA][0] for target in ("cloudwatch", "splunk", "eql", "esql")}
    return ReferenceEngine(pack).only([MFA]), queries


@SETTINGS
@given(rows=records)
def test_every_target_agrees_with_the_reference_on_who_acted_on_whom(rows):
    engine, q = compiled()
    batch = [record(i, *row) for i, row in enumerate(rows)]
    reference = engine.run(batch)
    expected = {r["eventID"] for r in batch if MFA in reference.matches[r["eventID"]]}
    got = {"cloudwatch": {r["eventID"] for r in batch if li.matches(q["cloudwatch"], r)}}
    splunk = SplunkEvaluator({SCOPE_MACRO: SCOPE_DEFINITION, "cloudtrail_detection_pack_aws_iam_user_mfa_deactivated_filter": "search *"})
    got["splunk"] = {batch[i]["eventID"] for row in splunk.run(q["splunk"], batch) for i in row.sources}
    assert got == {"cloudwatch": expected, "splunk": expected}
    kept = [r for r in batch if r["requestParameters"].get("userName") not in ECS_DROPPED_VALUES
            and r["userIdentity"].get("userName") not in ECS_DROPPED_VALUES]
    docs = [to_ecs(r) for r in kept]
    in_elastic = {r["eventID"] for r in kept} & expected
    assert {d["event"]["id"] for seq in elastic_eql.run(q["eql"], docs) for d in seq} == in_elastic
    assert {d["event"]["id"] for d in esql.run(q["esql"], docs).documents} == in_elastic
