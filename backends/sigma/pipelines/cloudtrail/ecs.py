"""CloudTrail processing pipeline for the ecs target: CloudTrail field names to the Elastic Common Schema
as Elastic's AWS integration indexes CloudTrail (data stream `logs-aws.cloudtrail-*`).

The field table and its source are in `schema.py` (ECS_FIELDS and friends). On top of the renaming, the
pipeline refuses what Elasticsearch would not evaluate as Sigma means it, naming the field and the
reason, rather than emitting a query on a field that does not exist or that means something else.

A field with no ECS home, or whose ECS home the integration also fills from other fields, fails the
conversion (SigmaTransformationError: the build stops). What one query language cannot say raises
SigmaFeatureNotSupportedByBackendError instead, so the release leaves the rule out of that language only
and records why:

* a value the integration deletes at ingest ('', '-', 'none');
* wildcards, regular expressions or CIDR on fields that are not keywords (flattened keys, booleans, dates);
* per query language (the backend is known from the pipeline's `backend` variable), from the field's
  type in the data stream (`fields.ECS_FIELD_TYPES`, the checked-in excerpt of the integration's fields):
  EQL and ES|QL cannot read flattened sub-fields (EQL: verification_exception "unsupported type
  [flattened]", elastic/elasticsearch#101985); EQL's `:` and `like~` compare strings only, and have no
  escape for a literal * or ?; ES|QL compares a keyword with strings only and casts a string to a boolean
  or date only when it is one; a Lucene value spelled exactly AND, OR or NOT is read as an operator; EQL
  expresses only `event_count >= n` correlations (`with runs=n`).

EQL field names are written part by part, backquoted where Elasticsearch's EQL grammar requires (`eql_field`).

Query post-processing fixes what the pySigma Elasticsearch backends (2.1.1) escape wrongly: raw
line breaks and tabs in Lucene terms, `\\<newline>` in EQL strings, and wildcard escapes and raw line
breaks inside ES|QL strings. For ES|QL correlations it drops the fixed `date_trunc` time buckets (they split
bursts) and bounds the counted events' own time span to the timespan instead (`first_seen`/`last_seen`), since
a Kibana rule's look-back is measured on ingest time and is longer than the timespan (docs/elastic.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import QueryPostprocessingTransformation
from sigma.processing.transformations import PreprocessingTransformation, SetStateTransformation
from sigma.processing.transformations.base import FieldMappingTransformationBase
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from .common import cloudtrail_rules_only, reject_unknown_fields
from .negation import NullSafeNegationTransformation
from .schema import ECS_DROPPED_VALUES, NoEcsHome, ecs_field, ecs_field_type

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


def _is_iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


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
            if backend == EQL:
                _unsupported(
                    rule,
                    f"{item.field}: Elasticsearch EQL refuses sub-fields of flattened fields such as {home} "
                    "(verification_exception: unsupported type [flattened], elastic/elasticsearch#101985)",
                )
        if backend == EQL:
            self._check_eql_types(rule, item, home, kind, values)
        if backend == ESQL:
            self._check_esql_types(rule, item, home, kind, values)

    @staticmethod
    def _check_eql_types(rule, item, home: str, kind: str, values) -> None:
        """The EQL backend compares every value with ':' (or 'like~', or cidrMatch), string operators that
        Elasticsearch's EQL verifier accepts only on string fields with string values (EQL syntax reference,
        "Comparison operators": ':' is case-insensitive string equality)."""
        for value in values:
            if isinstance(value, (SigmaNull, SigmaExists)):
                continue
            if kind != "keyword":
                _unsupported(rule, f"{item.field}: EQL's ':' compares strings; {home} is a {kind} field")
            if not isinstance(value, (SigmaString, SigmaRegularExpression, SigmaCIDRExpression)):
                _unsupported(
                    rule,
                    f"{item.field}: EQL's ':' compares strings; the {type(value).__name__} value of {home} "
                    "would not verify (write the value as a string)",
                )

    @staticmethod
    def _check_esql_types(rule, item, home: str, kind: str, values) -> None:
        """ES|QL is typed: a keyword column compares with string literals only, and a string literal is cast
        to a boolean or date column only when it is one ("ES|QL implicit casting",
        https://www.elastic.co/docs/reference/query-languages/esql/esql-implicit-casting)."""
        for value in values:
            if isinstance(value, (SigmaNull, SigmaExists)):
                continue
            if kind == "keyword" and isinstance(value, (SigmaBool, SigmaNumber, SigmaCompareExpression)):
                _unsupported(rule, f"{item.field}: ES|QL does not compare the keyword {home} with a {type(value).__name__} literal")
            if kind == "boolean" and isinstance(value, SigmaString) and _literal_text(value) not in ("true", "false"):
                _unsupported(rule, f"{item.field}: ES|QL cannot cast {_literal_text(value)!r} to the boolean {home}")
            if kind == "boolean" and isinstance(value, (SigmaNumber, SigmaCompareExpression)):
                _unsupported(rule, f"{item.field}: ES|QL does not compare the boolean {home} with a number")
            if kind == "date" and isinstance(value, (SigmaBool, SigmaNumber, SigmaCompareExpression)):
                _unsupported(rule, f"{item.field}: ES|QL does not compare the date {home} with a {type(value).__name__} literal")
            if kind == "date" and isinstance(value, SigmaString) and not _is_iso_date(_literal_text(value)):
                _unsupported(rule, f"{item.field}: ES|QL cannot cast {_literal_text(value)!r} to the date {home}")

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
            home = ecs_field(field)
        except NoEcsHome:
            return None  # unreachable for checked rules: EcsRuleCheckTransformation refused them
        return eql_field(home) if _backend(self) == EQL else home

    def _display(self, field: str) -> list[str]:
        try:
            home = ecs_field(field, display=True)
        except NoEcsHome:
            return []
        if _backend(self) == ESQL and (ecs_field_type(home) == "flattened" or home == "@timestamp"):
            return []
        return [home]


#: Elasticsearch's EQL lexer (x-pack/plugin/eql/src/main/antlr/EqlBase.g4 at
#: 057ebd7d794df549449ed5ec7231780393f6588b): a field name is `identifier (. identifier)*`, an identifier is
#: `(LETTER | '_' | '@') (LETTER | DIGIT | '_')*` or backquoted (`` ` ( ~'`' | '``' )* ` ``), and the keywords
#: below are reserved. The `eql` package the tests parse with accepts `[A-Za-z_][A-Za-z0-9_]*` or a
#: backquoted name without backquotes: a part outside the first is backquoted (also `@timestamp`, which
#: Elasticsearch reads either way), and a part with a backquote or line break is refused.
EQL_KEYWORDS = frozenset(
    "and any by false fork in join maxspan not null of or sequence true until where with".split()
)
_EQL_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def eql_field(name: str) -> str:
    """An ECS field name as an EQL field reference: each dotted part plain or backquoted."""
    parts = []
    for part in name.split("."):
        if _EQL_PLAIN.fullmatch(part) and part.lower() not in EQL_KEYWORDS:
            parts.append(part)
        elif part and not re.search(r"[`\r\n]", part):
            parts.append(f"`{part}`")
        else:
            raise SigmaFeatureNotSupportedByBackendError(f"{TARGET}: the field name {name!r} cannot be written in EQL")
    return ".".join(parts)


_ESQL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_ESQL_BUCKET = re.compile(r"\| eval timebucket=date_trunc\([^)]*\) \| ")
_ESQL_COUNT = re.compile(r"(\| stats (?:event_count=count\(\)|value_count=count_distinct\([^()]*\)))")
_ESQL_COUNT_CONDITION = re.compile(r"\n\| where (event_count|value_count) (>=|>) (\d+)$")


def _esql_correlation_window(query: str, timespan_s: int) -> str:
    """Bound the counted events' own time span: a Kibana ES|QL rule counts the events of its look-back, which
    is measured on ingest time (timestamp_override) and longer than the correlation's timespan, so the query
    alerts only when the events it counted happened within the timespan of each other (@timestamp =
    eventTime; CloudTrail writes whole seconds). `date_diff` and `min`/`max` of dates: ES|QL functions reference."""
    if _ESQL_COUNT_CONDITION.search(query) is None:
        return query
    query = _ESQL_COUNT.sub(r"\1, first_seen=min(`@timestamp`), last_seen=max(`@timestamp`)", query, count=1)
    match = _ESQL_COUNT_CONDITION.search(query)
    return query[: match.start()] + (
        f"\n| where {match.group(1)} {match.group(2)} {match.group(3)}"
        f' and date_diff("second", first_seen, last_seen) <= {timespan_s}'
    )


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
                if rule.timespan is not None:
                    query = _esql_correlation_window(query, int(rule.timespan.seconds))
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
            ProcessingItem(identifier=f"{TARGET}_null_safe_not", transformation=NullSafeNegationTransformation()),
            ProcessingItem(identifier=f"{TARGET}_check", transformation=EcsRuleCheckTransformation()),
            ProcessingItem(identifier=f"{TARGET}_fields", transformation=EcsFieldMappingTransformation()),
            ProcessingItem(identifier=f"{TARGET}_index", transformation=SetStateTransformation("index", INDEX)),
        ],
        postprocessing_items=[
            QueryPostprocessingItem(identifier=f"{TARGET}_query_fixes", transformation=EcsQueryFixTransformation()),
        ],
    )
