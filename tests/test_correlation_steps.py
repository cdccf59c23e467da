"""Correlation steps: a rule that every correlation counting it declares `generate: false` (Sigma's correlation
specification: the rules a correlation refers to are not converted stand-alone by default) is compiled and evaluated
like any rule, but no artifact alerts on it alone; its correlations do (issue 21, T1070 created-then-deleted).

The steps of the pack: CreateUser, CreateRole (succeeded) and DeleteRole. DeleteUser is counted by the T1070
correlation (generate: false) and by three that generate it, so it stays an alert everywhere.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from release_helpers import release_for
from sigma.collection import SigmaCollection

from cloudtrail_pack.artifacts import athena, cloudtrail_lake, cloudwatch, elastic, eventbridge, navigator, splunk
from cloudtrail_pack.engine.matcher import rule_sql
from cloudtrail_pack.engine.reference import ReferenceEngine
from cloudtrail_pack.pack import PackRule, _with_generation
from cloudtrail_pack.release.context import STEP_ONLY

USER_CREATED = "50970276-6c78-472b-9a36-1d1b993c5e45"
ROLE_CREATED = "771105db-93e9-46d0-9e57-0185bfdd2b69"
ROLE_DELETED = "d2241ba9-a1f3-4a24-986b-3d91a5a20e70"
STEPS = {USER_CREATED, ROLE_CREATED, ROLE_DELETED}
USER_DELETED = "0b40a563-9611-430c-ac03-6536096733f9"
USER_CREATED_THEN_DELETED = "f7e9b87e-4091-423e-8a1d-97cd89ee466f"
ROLE_CREATED_THEN_DELETED = "97ff6fd9-a3fe-400f-a06b-7c9e8d0fd5cd"


def test_the_pack_s_steps_are_the_rules_only_generate_false_correlations_count(pack):
    assert {r.id for r in pack.rules if r.step_only} == STEPS
    assert not pack.by_id(USER_DELETED).step_only  # also counted by correlations that generate it
    assert not any(r.step_only for r in pack.rules if r.is_correlation)


# --- the defect: pySigma hides a rule any generate: false correlation counts ----------------------------------


def test_the_reference_engine_compiles_a_rule_a_generate_false_correlation_counts(pack):
    """It unpacked `(query,) = convert_rule(rule)`, which pySigma leaves empty for such a rule: a ValueError
    traceback for every scan and test once a correlation said generate: false."""
    engine = ReferenceEngine(pack)
    assert STEPS | {USER_DELETED} <= set(engine.queries)
    created, deleted = _event("CreateUser", "u1", "01:00:00"), _event("DeleteUser", "u1", "02:00:00")
    verdict = engine.run([created, deleted])
    assert verdict.matches == {created["eventID"]: frozenset({USER_CREATED}), deleted["eventID"]: frozenset({USER_DELETED})}
    assert [(a.rule_id, a.events) for a in verdict.alerts] == [
        (USER_CREATED_THEN_DELETED, frozenset({created["eventID"], deleted["eventID"]}))
    ]


def test_the_fast_matcher_compiles_a_correlation_step(pack):
    """Its detached copy kept pySigma's hidden output, so the step had no SQL and fell back to the reference."""
    assert "CreateUser" in rule_sql(pack.by_id(USER_CREATED).rule)
    assert "DeleteUser" in rule_sql(pack.by_id(USER_DELETED).rule)


def _event(name: str, user: str, time: str) -> dict:
    return {"eventID": f"00000000-0000-4000-8000-{len(name)}{time.replace(':', '')}00000"[:36], "eventTime": f"2026-06-23T{time}Z",
            "eventSource": "iam.amazonaws.com", "eventName": name, "requestParameters": {"userName": user},
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x"}}


# --- the property: step_only is "counted, and by no correlation that generates it" ------------------------------


def _pack_rules(bases: int, correlations: list[tuple[frozenset[int], bool]]) -> list[PackRule]:
    """`bases` base rules, then one correlation per (indices of the base rules it counts, its generate)."""
    docs = [{"title": f"b{i}", "id": f"44444444-0000-4000-8000-{i:012d}", "name": f"b{i}", "status": "test",
             "logsource": {"product": "aws", "service": "cloudtrail"},
             "detection": {"sel": {"eventName": f"E{i}"}, "condition": "sel"}} for i in range(bases)]
    for j, (counted, generate) in enumerate(correlations):
        docs.append({"title": f"c{j}", "id": f"55555555-0000-4000-8000-{j:012d}", "name": f"c{j}", "status": "test",
                     "correlation": {"type": "event_count", "rules": [f"b{i}" for i in sorted(counted)],
                                     "group-by": ["userIdentity.arn"], "timespan": "10m", "condition": {"gte": 2},
                                     "generate": generate}})
    rules = SigmaCollection.from_dicts(docs).rules
    return [PackRule(rule, PurePosixPath(f"sigma/r{k}.yml"), 0) for k, rule in enumerate(rules)]


@st.composite
def packs(draw):
    bases = draw(st.integers(1, 4))
    correlations = draw(st.lists(st.tuples(st.frozensets(st.integers(0, bases - 1), min_size=1), st.booleans()), max_size=4))
    return bases, correlations


@settings(max_examples=200, deadline=None, derandomize=True)
@given(packs())
@example((1, []))  # no correlation: an alert
@example((1, [(frozenset({0}), False)]))  # one generate: false correlation: a step
@example((1, [(frozenset({0}), True)]))  # generated: an alert
@example((2, [(frozenset({0, 1}), False), (frozenset({1}), True)]))  # DeleteUser's case: b1 counted both ways, an alert
@example((2, [(frozenset({1}), True), (frozenset({0, 1}), False)]))  # the same, the generating correlation first
def test_a_rule_is_a_step_exactly_when_counted_and_never_generated(drawn):
    bases, correlations = drawn
    rules = _with_generation(_pack_rules(bases, correlations))
    for i, rule in enumerate(rules[:bases]):
        counting = [generate for counted, generate in correlations if i in counted]
        assert rule.step_only == (bool(counting) and not any(counting)), (i, correlations)
    assert not any(r.step_only for r in rules[bases:])


# --- every artifact: no alert on a step alone, the correlation alerts ------------------------------------------


@pytest.fixture(scope="module")
def release(pack):
    return release_for(pack, splunk, elastic, eventbridge, cloudwatch, athena, cloudtrail_lake)


def test_splunk_has_no_search_for_a_step_and_a_notable_for_the_correlation(release):
    searches, skipped = splunk.saved_searches(release)
    ids = {s.rule.id for s in searches}
    assert not ids & STEPS and {skipped[i] for i in STEPS} == {STEP_ONLY}
    (correlation,) = [s for s in searches if s.rule.id == USER_CREATED_THEN_DELETED]
    assert correlation.settings["action.notable"] == "1" and correlation.settings["enableSched"] == "1"
    assert USER_DELETED in ids and ROLE_CREATED_THEN_DELETED in ids
    readme = splunk.app_files(release)["README.md"].decode()
    assert all(f"`{i}` " in readme for i in STEPS) and STEP_ONLY in readme


def test_elastic_ships_a_step_as_a_building_block_only(release):
    rules = elastic.build_kibana_rules(release).rules
    by_sigma = {}
    for rule in rules:
        by_sigma.setdefault(rule["meta"]["sigma_id"], []).append(rule)
    assert {r.get("building_block_type") for i in STEPS for r in by_sigma[i]} == {"default"}
    others = [r for i, rs in by_sigma.items() if i not in STEPS for r in rs]
    assert not [r["rule_id"] for r in others if "building_block_type" in r]
    assert {r["type"] for r in by_sigma[USER_CREATED_THEN_DELETED]} == {"eql", "esql"}


def test_eventbridge_has_no_rule_for_a_step(release):
    detections, refused = eventbridge.collect(release)
    deployed = {d.rule.id for d in detections}
    assert not deployed & STEPS and not {r.id for r, _ in refused} & STEPS
    assert USER_DELETED in deployed


def test_cloudwatch_has_no_query_or_alarm_for_a_step(release):
    deployed = {d.rule.id for d in cloudwatch.collect(release)}
    assert not deployed & STEPS and USER_DELETED in deployed


@pytest.mark.parametrize("writer", [athena, cloudtrail_lake], ids=["athena", "cloudtrail_lake"])
def test_the_hunting_targets_keep_a_step_s_query(release, writer, tmp_path):
    writer.write(release, tmp_path)
    written = "\n".join(p.read_text() for p in tmp_path.rglob("*.sql"))
    assert all(release.pack.by_id(i).slug in "\n".join(p.name for p in tmp_path.rglob("*.sql")) for i in STEPS)
    assert "CreateUser" in written and "CreateRole" in written and "DeleteRole" in written


def test_the_build_table_says_step_with_the_reason(release):
    matrix = release.matrix()
    for step in STEPS:
        cells = matrix[step]
        assert {t for t, c in cells.items() if c.step} == {"splunk", "lucene", "eql", "esql", "eventbridge", "cloudwatch"} & set(cells)
        assert all(c.ok and c.reason == STEP_ONLY for c in cells.values() if c.step)
        assert cells["athena"].ok and not cells["athena"].step
    assert not any(c.step for c in matrix[USER_DELETED].values())


def test_the_navigator_layer_shows_t1070_from_the_correlations_and_nothing_from_the_steps(pack):
    layer = navigator.build_layer(pack)
    cells = {(t["techniqueID"], t.get("tactic")): t for t in layer["techniques"]}
    t1070 = cells[("T1070", "defense-evasion")]
    assert t1070["score"] == 2 and "Created Then Deleted" in t1070["comment"]
    assert not [k for k in cells if k[0].startswith("T1136")]  # only the steps carry Create Account
    assert json.dumps(layer).count("AWS IAM Role Deleted") == 0
