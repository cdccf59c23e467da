"""CloudTrail processing pipeline for the ecs target: CloudTrail field names to the Elastic Common Schema
as Elastic's AWS integration indexes CloudTrail (data stream `logs-aws.cloudtrail-*`).

The field table and its source are in `fields.py` (ECS_FIELDS and friends). On top of the renaming, the
pipeline refuses what Elasticsearch would not evaluate as Sigma means it, naming the field and the
reason, rather than emitting a query on a field that does not exist or that means something else.

A field with no ECS home, or whose ECS home the integration also fills from other fields, fails the
conversion (SigmaTransformationError: the build stops). What one query language cannot say raises
SigmaFeatureNotSupportedByBackendError instead, so the release leaves the rule out of that language only
and records why:

* a value the integration deletes at ingest ('', '-', 'none');
* wildcards, regular expressions or CIDR on fields that are not keywords (flattened keys, booleans, dates);
* per query language (the backend is known from the pipeline's `backend` variable):
  ES|QL cannot read flattened fields; EQL's `:` and `like~` have no escape for a literal * or ?,
  and `like~` is a wildcard query (refused on flattened keys); a Lucene value spelled exactly AND, OR or
  NOT is read as an operator; EQL expresses only `event_count >= n` correlations (`with runs=n`).

Query post-processing fixes what the pySigma Elasticsearch backends (2.1.1) escape wrongly: raw
line breaks and tabs in Lucene terms, `\\<newline>` in EQL strings, and wildcard escapes and raw line
breaks inside ES|QL strings. For ES|QL correlations it drops the fixed `date_trunc` time buckets so that
the rule's own look-back window is the correlation window (see the README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import QueryPostprocessingTransformation
from sigma.processing.transformations import PreprocessingTransformation, SetStateTransformation
from sigma.processing.transformations.base import FieldMappingTransformationBase
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaRegularExpression,
    SigmaString,
)

from .common import cloudtrail_rules_only, reject_unknown_fields
from .fields import ECS_DROPPED_VALUES, NoEcsHome, ecs_field, ecs_field_type

TARGET = "ecs_cloudtrail"
INDEX = "logs-aws.cloudtrail-*"

#: pySigma backend names (`Backend.name`, stored by pySigma in the pipeline variable `backend`).
LUCENE = "Elasticsearch Lucene"
EQL = "Elasticsearch EQL"
ESQL = "ES|QL backend"

#: Words the Lucene query parser reads as operators when they stand alone.
LUCENE_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT"})


def _fail(rule, message: str) -> None:
    """The rule is wrong for Elastic (a field the integration does not store as the rule means it): fail the build."""
    raise SigmaTransformationError(f"{TARGET}: {message}", source=getattr(rule, "source", None))


def _unsupported(rule, message: str) -> None:
    """This query language cannot say what the rule means: the rule is left out of that language, with this reason."""
    raise SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {message}", source=getattr(rule, "source", None))


def _backend(transformation) -> str | None:
    pipeline = getattr(transformation, "_pipeline", None)
    return pipeline.vars.get("backend") if pipeline is not None else None


def _items(detection: SigmaDetection):
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _values(item: SigmaDetectionItem):
    for value in item.value:
        if isinstance(value, SigmaExpansion):
            yield from value.values
        else:
            yield value


def _literal_text(value: SigmaString) -> str:
    """The literal characters of a Sigma string (wildcards left out)."""
    return "".join(part for part in value.s if isinstance(part, str))


@dataclass
class EcsRuleCheckTransformation(PreprocessingTransformation):
    """Refuse, naming field and reason, what the integration's index cannot answer as Sigma means it.

    Runs before the field mapping, on CloudTrail field names.
    """

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        backend = _backend(self)
        if isinstance(rule, SigmaCorrelationRule):
            self._check_correlation(rule, backend)
            return
        if not isinstance(rule, SigmaRule):
            return
        for detection in rule.detection.detections.values():
            for item in _items(detection):
                self._check_item(rule, item, backend)

    def _home(self, rule, name: str) -> str:
        try:
            return ecs_field(name)
        except NoEcsHome as e:
            _fail(rule, f"field {name} has no field in Elastic's AWS CloudTrail integration to match on: {e.reason}")
            raise  # unreachable

    def _check_item(self, rule, item: SigmaDetectionItem, backend: str | None) -> None:
        if item.field is None:
            _fail(rule, "keyword (field-less) detections have no ECS field to search; name the CloudTrail field")
        home = self._home(rule, item.field)
        kind = ecs_field_type(home)
        values = list(_values(item))
        for value in values:
            if isinstance(value, SigmaString):
                literal = _literal_text(value)
                if not value.contains_special() and literal.lower() in ECS_DROPPED_VALUES:
                    _unsupported(
                        rule,
                        f"{item.field}: the integration deletes the value {literal!r} at ingest "
                        "(its first script drops '', '-' and 'none'), so no Elastic query can match it",
                    )
                if value.contains_special() and kind != "keyword":
                    _unsupported(rule, f"{item.field}: wildcards are not supported on {home} ({kind} field)")
                if backend == EQL and ("*" in literal or "?" in literal):
                    _unsupported(
                        rule,
                        f"{item.field}: EQL's case-insensitive ':' and 'like~' read * and ? as wildcards "
                        "and have no escape for them, so a literal * or ? cannot be matched",
                    )
                if backend == ESQL and value.contains_special() and any(c in literal for c in "*?\\"):
                    _unsupported(rule, f"{item.field}: ES|QL LIKE patterns with a literal *, ? or \\ are not supported")
                if backend == LUCENE and not value.contains_special() and literal in LUCENE_OPERATOR_WORDS:
                    _unsupported(rule, f"{item.field}: the value {literal!r} is read as an operator by the Lucene query parser")
            elif isinstance(value, (SigmaRegularExpression, SigmaCIDRExpression)) and kind != "keyword":
                _unsupported(rule, f"{item.field}: regular expressions and CIDR are not supported on {home} ({kind} field)")
            elif isinstance(value, SigmaCompareExpression) and kind == "flattened":
                _unsupported(rule, f"{item.field}: numeric comparisons are not supported on {home} (flattened field)")
        if kind == "flattened":
            if backend == ESQL:
                _unsupported(rule, f"{item.field}: ES|QL cannot read flattened fields such as {home}")
            if backend == EQL and len(values) > 1:
                _unsupported(rule, f"{item.field}: EQL turns a list of values into 'like~', a wildcard query that {home} (flattened) refuses")

    def _check_correlation(self, rule: SigmaCorrelationRule, backend: str | None) -> None:
        for name in rule.group_by or []:
            self._home(rule, name)
        condition = rule.condition
        if condition is not None and condition.fieldref:
            for name in [condition.fieldref] if isinstance(condition.fieldref, str) else condition.fieldref:
                self._home(rule, name)
        if backend == EQL:
            op = getattr(getattr(condition, "op", None), "name", None)
            if rule.type != SigmaCorrelationType.EVENT_COUNT or op != "GTE":
                _unsupported(
                    rule,
                    "EQL expresses only event_count correlations with a gte condition (a sequence "
                    "'with runs=n'); the backend would write runs=n for any other condition",
                )
            if not 1 <= int(condition.count) <= 100:
                _unsupported(rule, "EQL sequences allow runs between 1 and 100")


@dataclass
class EcsFieldMappingTransformation(FieldMappingTransformationBase):
    """CloudTrail field -> ECS field, in detections and correlations (checked beforehand by
    EcsRuleCheckTransformation) and in the `fields:` list (alert details). A listed field with no ECS home
    is dropped from `fields:`; so are, for ES|QL, flattened fields (ES|QL cannot read them) and @timestamp
    (an aggregating ES|QL rule's alert must not carry a multi-valued @timestamp column)."""

    def apply(self, rule) -> None:  # type: ignore[override]
        listed, rule.fields = list(rule.fields or []), []
        super().apply(rule)
        rule.fields = [home for name in listed for home in self._display(name)]

    def apply_field_name(self, field: str | None):  # type: ignore[override]
        if field is None:
            return None
        try:
            return ecs_field(field)
        except NoEcsHome:
            return None  # unreachable for checked rules: EcsRuleCheckTransformation refused them

    def _display(self, field: str) -> list[str]:
        try:
            home = ecs_field(field, display=True)
        except NoEcsHome:
            return []
        if _backend(self) == ESQL and (ecs_field_type(home) == "flattened" or home == "@timestamp"):
            return []
        return [home]


_ESQL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_ESQL_BUCKET = re.compile(r"\| eval timebucket=date_trunc\([^)]*\) \| ")


def _fix_esql_string(match: re.Match, query: str) -> str:
    before = query[: match.start()].rstrip()
    body = match.group(1)
    if not re.search(r"\b(like|rlike)$", before, re.I):
        body = re.sub(r"\\([*?])", r"\1", body)
    body = body.replace("\n", "\\n").replace("\r", "\\r")
    return f'"{body}"'


@dataclass
class EcsQueryFixTransformation(QueryPostprocessingTransformation):
    """Backend-specific repairs of the query text (see the module docstring)."""

    def apply(self, rule, query):  # type: ignore[override]
        super().apply(rule, query)
        if not isinstance(query, str):
            return query
        backend = _backend(self)
        if backend == LUCENE:
            # Lucene's query parser separates terms on these; an escaped one is part of the term.
            return re.sub("[\t\n\r\u3000]", lambda m: "\\" + m.group(0), query)
        if backend == EQL:
            # The backend writes a backslash before raw line breaks and tabs; EQL strings want \n, \r, \t.
            return query.replace("\\\n", "\\n").replace("\\\r", "\\r").replace("\\\t", "\\t")
        if backend == ESQL:
            query = _ESQL_STRING.sub(lambda m: _fix_esql_string(m, m.string), query)
            if isinstance(rule, SigmaCorrelationRule):
                query = _ESQL_BUCKET.sub("| ", query).replace(" by timebucket, ", " by ").replace(" by timebucket", "")
            return query
        return query


def ecs_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for ecs",
        priority=20,
        allowed_backends=frozenset({"lucene", "eql", "esql", "elasticsearch"}),
        items=[
            cloudtrail_rules_only(TARGET),
            reject_unknown_fields(TARGET),
            ProcessingItem(identifier=f"{TARGET}_check", transformation=EcsRuleCheckTransformation()),
            ProcessingItem(identifier=f"{TARGET}_fields", transformation=EcsFieldMappingTransformation()),
            ProcessingItem(identifier=f"{TARGET}_index", transformation=SetStateTransformation("index", INDEX)),
        ],
        postprocessing_items=[
            QueryPostprocessingItem(identifier=f"{TARGET}_query_fixes", transformation=EcsQueryFixTransformation()),
        ],
    )
