"""The pySigma behaviours the plugin and the pack rely on beyond pySigma's documented API, one test each.

`sigma.pipelines.cloudtrail.pysigma_compat` holds every use of a pySigma private name; the tests below pin what
each of its functions relies on, and the public hooks the pipelines build on (a string value's `convert`, a
SigmaQueryExpression, a correlation condition's fields), so that a pySigma upgrade that changes one fails a test
named for it rather than a conversion far away.
"""

from __future__ import annotations

import copy
import sqlite3
from dataclasses import dataclass

import pytest
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.backends.sqlite.runtime import execute_plan
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationType
from sigma.pipelines.cloudtrail import correlations, ecs_cloudtrail_pipeline, pysigma_compat
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import PreprocessingTransformation
from sigma.types import SigmaQueryExpression, SigmaString

from cloudtrail_pack.engine.sqlite import TABLE, backend as sqlite_backend, quote

BASE = {
    "title": "Deleted", "id": "33333333-0000-4000-8000-000000000001", "name": "deleted", "status": "test",
    "logsource": {"product": "aws", "service": "cloudtrail"},
    "detection": {"sel": {"eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"}, "condition": "sel"},
}
OTHER = {**BASE, "title": "Other", "id": "33333333-0000-4000-8000-000000000002", "name": "other"}
BURST = {
    "title": "Burst", "id": "33333333-0000-4000-8000-0000000000ff", "name": "burst", "status": "test",
    "correlation": {
        "type": "event_count", "rules": ["deleted"], "group-by": ["userIdentity.arn"], "timespan": "10m",
        "condition": {"gte": 3},
    },
}


def collection(*rules: dict) -> SigmaCollection:
    resolved = SigmaCollection.from_dicts([copy.deepcopy(r) for r in rules])
    resolved.resolve_rule_references()
    return resolved


# --- pipeline_vars: a transformation's pipeline is the private `_pipeline` -------------------------------


@dataclass
class _Spy(PreprocessingTransformation):
    seen: list

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        self.seen.append(
            (dict(pysigma_compat.pipeline_vars(self)), pysigma_compat.backend_name(self), pysigma_compat.output_format(self))
        )


def test_a_transformation_reads_the_backend_and_format_from_its_pipeline():
    seen: list = []
    pipeline = ProcessingPipeline(items=[ProcessingItem(_Spy(seen), identifier="spy")]) + ecs_cloudtrail_pipeline()
    EqlBackend(pipeline).convert(collection(BASE), "eqlapi")
    ((variables, backend, output_format),) = seen
    assert (variables["backend"], backend, output_format) == (EqlBackend.name, EqlBackend.name, "eqlapi")


def test_outside_a_conversion_a_transformation_has_no_pipeline_variables():
    spy = _Spy([])
    assert (dict(pysigma_compat.pipeline_vars(spy)), pysigma_compat.backend_name(spy), pysigma_compat.output_format(spy)) == (
        {}, None, "default",
    )


# --- is_referenced / forget_references / detached_copy: the private `_backreferences` ---------------------


def test_resolving_references_records_the_referencing_correlation():
    rules = collection(BASE, OTHER, BURST)
    base, other, burst = rules.rules
    assert [pysigma_compat.is_referenced(r) for r in (base, other, burst)] == [True, False, False]
    assert base.referenced_by(burst)  # the public question, about one given rule


def test_a_deep_copy_carries_the_references_and_a_detached_copy_does_not():
    base = collection(BASE, BURST).rules[0]
    assert pysigma_compat.is_referenced(copy.deepcopy(base))
    detached = pysigma_compat.detached_copy(base)
    assert not pysigma_compat.is_referenced(detached) and pysigma_compat.is_referenced(base)
    again = SigmaCollection([detached, pysigma_compat.detached_copy(collection(BASE, BURST).rules[1])])
    again.resolve_rule_references()
    assert pysigma_compat.is_referenced(again.rules[0])


# --- keep_output: the private `_output`, cleared by any `generate: false` correlation ----------------------

QUIET = {**BURST, "id": "33333333-0000-4000-8000-0000000000fe", "name": "quiet"}  # generate: false (the default)
LOUD = {**BURST, "id": "33333333-0000-4000-8000-0000000000fd", "name": "loud",
        "correlation": {**BURST["correlation"], "generate": True}}


def test_one_generate_false_correlation_hides_a_rule_that_another_generates():
    """pySigma 1.5.1 clears `_output` for every rule a `generate: false` correlation references, whatever the other
    correlations say: convert_rule returns nothing for it, so the pack decides what alerts itself (step_only)."""
    base = collection(BASE, LOUD, QUIET).rules[0]
    assert base._output is False
    assert ESQLBackend(ecs_cloudtrail_pipeline()).convert_rule(base) == []
    again = collection(BASE, LOUD, QUIET).rules[0]
    pysigma_compat.keep_output(again)
    assert ESQLBackend(ecs_cloudtrail_pipeline()).convert_rule(again) == [
        'event.provider=="iam.amazonaws.com" and event.action=="DeleteUser"'  # bare: a correlation embeds it
    ]


def test_a_detached_copy_is_output_again():
    base = collection(BASE, QUIET).rules[0]
    assert base._output is False and pysigma_compat.detached_copy(base)._output is True


# --- leaves_unfinished / finished_queries: pySigma does not finalize a referenced rule --------------------


def test_convert_rule_leaves_a_referenced_rule_unfinished_and_finished_queries_finishes_it():
    backend = ESQLBackend(ecs_cloudtrail_pipeline())
    base = collection(BASE, BURST).rules[0]
    backend.convert_rule(base)
    (bare,) = base.get_conversion_result()
    assert pysigma_compat.leaves_unfinished(backend, base)
    assert bare == 'event.provider=="iam.amazonaws.com" and event.action=="DeleteUser"'
    (alone,) = ESQLBackend(ecs_cloudtrail_pipeline()).convert(collection(BASE))
    assert pysigma_compat.finished_queries(backend, base, "default") == [alone]
    assert alone.startswith("from logs-aws.cloudtrail-* metadata")


def test_a_rule_no_correlation_references_is_finished_by_pysigma():
    backend = ESQLBackend(ecs_cloudtrail_pipeline())
    base = collection(BASE).rules[0]
    assert not pysigma_compat.leaves_unfinished(backend, base)


# --- correlation_plan: pySigma-backend-sqlite's zircolite format carries the plan -------------------------


def test_the_zircolite_plan_is_the_plan_the_sqlite_runtime_executes():
    rules = collection(BASE, BURST)
    sql = sqlite_backend()
    sql.convert_rule(rules.rules[0])
    plan = pysigma_compat.correlation_plan(sql, rules.rules[1])
    assert plan["version"] == 2
    columns = ["eventID", "eventTime", "eventSource", "eventName", "userIdentity.arn"]
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE {TABLE} ({', '.join(quote(c) + ' COLLATE NOCASE' for c in columns)})")
    arn = "arn:aws:iam::111122223333:user/admin"
    db.executemany(
        f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
        [(f"e{i}", f"2026-02-17T11:0{i}:00Z", "iam.amazonaws.com", "DeleteUser", arn) for i in range(3)],
    )
    rows, _ = execute_plan(db, plan, include_events=False)
    assert [len(row["event_ids"]) for row in rows] == [3]


# --- the public hooks the Elastic pipeline builds on ----------------------------------------------------


class _Marked(SigmaString):
    """A string value that writes itself as MARK<text>: what the backends write must come from `convert`."""

    def convert(self, *args, **kwargs) -> str:  # type: ignore[override]
        return "MARK" + super().convert(*args, **kwargs)


@pytest.mark.parametrize("backend_class", [LuceneBackend, EqlBackend, ESQLBackend])
@pytest.mark.parametrize("value", ["plain", "prefix*", "*suffix", "*inner*", "wild?card"])
def test_the_elastic_backends_write_a_string_value_through_its_convert(backend_class, value):
    """elastic_values' string types rely on it, also for the slices the backends take for starts/ends-with."""
    marked = _Marked(value)
    assert type(marked[:-1]) is _Marked and type(marked[1:]) is _Marked
    rule = collection(BASE).rules[0]
    rule.detection.detections["sel"].detection_items[1].value = [marked]
    (query,) = backend_class().convert(SigmaCollection([rule]))
    assert "MARK" in query


@pytest.mark.parametrize("backend_class", [LuceneBackend, EqlBackend, ESQLBackend])
def test_the_elastic_backends_write_a_query_expression_as_it_is(backend_class):
    """ecs.py's field references rely on it: the expression's text, `{{`/`}}` read as braces."""
    rule = collection(BASE).rules[0]
    rule.detection.detections["sel"].detection_items[1].value = [SigmaQueryExpression("(x {{y}} z)", "fieldref")]
    (query,) = backend_class().convert(SigmaCollection([rule]))
    assert "(x {y} z)" in query


def test_a_correlation_converts_under_its_ordered_stand_in_condition():
    """correlations.OrderedStandIn: the backend reads op and count from it as from any condition."""
    ordered = {**BURST, "correlation": {**BURST["correlation"], "type": "temporal_ordered", "rules": ["deleted", "other"]}}
    del ordered["correlation"]["condition"]
    rules = collection(BASE, OTHER, ordered)
    rule = rules.rules[2]
    own_condition = rule.condition
    correlations.stand_in(rule)
    assert rule.type == SigmaCorrelationType.EVENT_COUNT
    assert (rule.condition.op, rule.condition.count, rule.condition.steps) == (SigmaCorrelationConditionOperator.GTE, 1, [[0], [1]])
    backend = EqlBackend()
    for base in rules.rules[:2]:
        backend.convert_rule(base)
    (query,) = backend.convert_correlation_rule(rule)
    assert query.endswith("with runs=1")
    assert correlations.restore(rule) == [[0], [1]]
    assert (rule.type, rule.condition) == (SigmaCorrelationType.TEMPORAL_ORDERED, own_condition)
    assert correlations.restore(rule) is None
