"""Correlations the ecs_cloudtrail pipeline finishes itself: EQL's ordered sequence and ES|QL's time window.

Both are postprocessing steps with an explicit contract, because pySigma gives a pipeline no other hook here:
correlation queries are written from templates that are class attributes of the backend, and `sigma convert -t eql|esql
-p ecs_cloudtrail` instantiates pySigma-backend-elasticsearch's own classes, so a subclass would make the pack's
build and sigma-cli disagree (docs/upstream.md, "Hooks the CloudTrail pipelines need"). Both work on the default
output format's text; `ecs.py` refuses, before conversion, the correlations they finish in any other format.

* EQL, `temporal_ordered` (two steps). The backend has no template for it and raises NotImplementedError, so
  `ecs.py` converts a stand-in (`correlations.OrderedStandIn`) and `EqlSequenceTransformation` discards the
  stand-in's query whole and writes `sequence by <group> with maxspan=<timespan> [any where <step 1>] [any where
  <step 2>]` from the correlated rules' conversion results (EQL syntax reference, "Sequences"); a stage is any of
  its rules' conditions.
* ES|QL, `temporal_ordered` (two steps): converted through the same stand-in; `esql_sequence` writes the pairs of
  the two steps' times per group (MV_EXPAND of VALUES), kept where the first is earlier and within the timespan.
* ES|QL, `event_count`, `value_count` and `temporal`. The backend buckets events by `date_trunc(<timespan>,
  @timestamp)`, which splits a burst at each bucket boundary, and a Kibana rule counts the events of its look-back,
  measured on ingest time and longer than the timespan (docs/elastic.md). `EsqlWindowTransformation` drops the
  buckets and bounds the counted events' own time span instead: `first_seen=min(@timestamp)`,
  `last_seen=max(@timestamp)` and `date_diff("second", first_seen, last_seen) <= <timespan>` (ES|QL functions
  reference; @timestamp = eventTime; CloudTrail writes whole seconds). So every alert is a set of events Sigma
  alerts on (gte/gt thresholds only: `ecs.py` refuses the others).

  This is one of the two places a CloudTrail pipeline edits text a backend wrote (the other: the Splunk search's
  grouping, `splunk_grouping.py`), and it edits only the two lines the backend
  writes from its templates, field names and numbers (`ESQL_AGGREGATION`, `ESQL_CONDITION`, the layout of
  pySigma-backend-elasticsearch 2.1.1's `default_correlation_query` and `temporal_correlation_query`: search,
  [typing,] aggregation, condition): no rule value is ever in them (values are in the search and typing lines,
  kept byte for byte, and a value cannot hold a raw line break: `elastic_values.EsqlString`). A query that is not
  laid out that way fails the conversion (`BackendLayoutChanged`), naming the line, instead of passing through
  unbounded. tests/elastic/test_elastic_correlations.py pins the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.postprocessing import QueryPostprocessingTransformation

from . import correlations, pysigma_compat
from .elastic_values import EQL, ESQL

TARGET = "ecs_cloudtrail"

#: The aggregation line pySigma-backend-elasticsearch 2.1.1 writes for ES|QL (`*_aggregation_expression["stats"]`,
#: `groupby_expression`): `<count>` one of its three count expressions, `<fields>` its `, f=values(f)` list.
ESQL_AGGREGATION = re.compile(
    r"\| eval timebucket=date_trunc\(\w+, @timestamp\) \| stats "
    r"(?P<count>event_count=count\(\)|value_count=count_distinct\([^()\s]+\)|event_type_count=count_distinct\(event_type\))"
    r"(?P<fields>(?:, [^()\s,]+=values\([^()\s]+\))*)"
    r" by timebucket(?P<groups>(?:, [^\s,]+)*)"
)
#: The condition line (`*_condition_expression["stats"]`) of a gte/gt threshold.
ESQL_CONDITION = re.compile(r"\| where (?P<name>event_count|value_count|event_type_count) (?P<op>>=|>) (?P<count>\d+)")


class BackendLayoutChanged(SigmaTransformationError):
    """The backend wrote a correlation query this module does not know how to finish (see the module docstring)."""


def _eql_span(seconds: int) -> str:
    """An EQL maxspan (time units d, h, m, s: EQL syntax reference, "maxspan")."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable")


def eql_sequence(rule: SigmaCorrelationRule, steps: list[list[int]]) -> str:
    """`sequence by <group> with maxspan=<timespan> [any where <step 1>] [any where <step 2>]`: EQL's own ordered
    form (EQL syntax reference, "Sequences"); a stage is any of its rules' conditions."""
    conditions = []
    for ref in rule.referenced_rules:
        queries = ref.rule.get_conversion_result()
        if len(queries) != 1 or not isinstance(queries[0], str):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{TARGET}: each correlated rule must convert to exactly one EQL condition", source=rule.source
            )
        conditions.append(queries[0])

    def stage(indexes: list[int]) -> str:
        parts = [conditions[i] for i in indexes]
        return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)

    by = f"by {', '.join(rule.group_by)} " if rule.group_by else ""
    return (
        f"sequence {by}with maxspan={_eql_span(int(rule.timespan.seconds))}\n"
        f" [any where {stage(steps[0])}]\n"
        f" [any where {stage(steps[1])}]"
    )


@dataclass
class EqlSequenceTransformation(QueryPostprocessingTransformation):
    """An ordered temporal correlation converted through its stand-in: the EQL sequence, written from its rules."""

    def apply(self, rule, query):  # type: ignore[override]
        super().apply(rule, query)
        if pysigma_compat.backend_name(self) != EQL:
            return query
        steps = correlations.restore(rule) if isinstance(rule, SigmaCorrelationRule) else None
        if steps is None:
            return query
        if not isinstance(query, str):  # ecs.py refuses other output formats before conversion
            raise BackendLayoutChanged(f"{TARGET}: the EQL sequence is written for the default output format only")
        return eql_sequence(rule, steps)


def esql_window(query: str, timespan_s: int) -> str:
    """The backend's ES|QL correlation query without time buckets, its counted events at most `timespan_s` apart."""
    *search, aggregation, condition = query.split("\n")
    aggregated = ESQL_AGGREGATION.fullmatch(aggregation)
    threshold = ESQL_CONDITION.fullmatch(condition)
    if not search or aggregated is None or threshold is None:
        line = aggregation if aggregated is None else condition
        raise BackendLayoutChanged(
            f"{TARGET}: pySigma-backend-elasticsearch wrote the ES|QL correlation line {line!r}, not in the layout "
            "of version 2.1.1 that elastic_correlations.py bounds in time"
        )
    groups = aggregated.group("groups")
    by = f" by {groups[2:]}" if groups else ""
    return "\n".join(
        [
            *search,
            f"| stats {aggregated.group('count')}, first_seen=min(`@timestamp`), last_seen=max(`@timestamp`)"
            f"{aggregated.group('fields')}{by}",
            f"| where {threshold.group('name')} {threshold.group('op')} {threshold.group('count')}"
            f' and date_diff("second", first_seen, last_seen) <= {timespan_s}',
        ]
    )


def _esql_condition(rule: SigmaCorrelationRule, queries) -> str:
    """A correlated rule's ES|QL condition: pySigma leaves a rule a correlation counts unfinished (its condition)."""
    if len(queries) != 1 or not isinstance(queries[0], str) or "\n" in queries[0] or queries[0].lstrip().startswith("from "):
        raise BackendLayoutChanged(f"{TARGET}: a correlated rule's ES|QL conversion is not its condition alone", source=rule.source)
    return queries[0]


def esql_sequence(rule: SigmaCorrelationRule, steps: list[list[int]], index: str) -> str:
    """The ordered correlation in ES|QL: per group, every step-1 time paired with every step-2 time (MV_EXPAND of
    each step's VALUES), kept where t1 <= t2 <= t1 + timespan: Sigma's ordered meaning (correlations.py; CloudTrail's whole seconds
    leave steps in one second in order, issue 20), which
    per-group MIN/MAX alone cannot decide. The pairs are those of one group within the rule's look-back."""
    parts = [_esql_condition(rule, ref.rule.get_conversion_result()) for ref in rule.referenced_rules]

    def stage(indexes: list[int]) -> str:
        return " or ".join(f"({parts[i]})" for i in indexes)

    first, second = stage(steps[0]), stage(steps[1])
    by = ", ".join(rule.group_by or [])
    group = f" by {by}" if by else ""
    return "\n".join(
        [
            f"from {index} metadata _id, _index, _version",
            f"| where ({first}) or ({second})",
            f"| eval step1_time=case({first}, `@timestamp`), step2_time=case({second}, `@timestamp`)",
            f"| stats step1_time=values(step1_time), step2_time=values(step2_time){group}",
            "| mv_expand step1_time",
            "| mv_expand step2_time",
            f'| where step1_time <= step2_time and date_diff("second", step1_time, step2_time) <= {int(rule.timespan.seconds)}',
            f"| stats first_seen=min(step1_time), last_seen=max(step2_time){group}",
        ]
    )


@dataclass
class EsqlWindowTransformation(QueryPostprocessingTransformation):
    """ES|QL correlations: the counted events' own time span bounded by the timespan (see the module docstring);
    an ordered one converted through its stand-in written from its rules (`esql_sequence`) over `index`."""

    index: str = ""

    def apply(self, rule, query):  # type: ignore[override]
        super().apply(rule, query)
        if not isinstance(rule, SigmaCorrelationRule) or pysigma_compat.backend_name(self) != ESQL:
            return query
        if not isinstance(query, str):  # ecs.py refuses other output formats before conversion
            raise BackendLayoutChanged(f"{TARGET}: ES|QL correlations are bounded in the default output format only")
        steps = correlations.restore(rule)
        if steps is not None:
            return esql_sequence(rule, steps, self.index)
        return esql_window(query, int(rule.timespan.seconds))
