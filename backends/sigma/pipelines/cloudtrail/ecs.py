"""CloudTrail processing pipeline for the ecs target: CloudTrail field names to the Elastic Common Schema
as Elastic's AWS integration indexes CloudTrail (data stream `logs-aws.cloudtrail-*`).

The field table and its source are in `ecs_fields.py` (ECS_FIELDS and friends). On top of the renaming, the
pipeline refuses what Elasticsearch would not evaluate as Sigma means it, naming the field and the
reason, rather than emitting a query on a field that does not exist or that means something else.

A field with no ECS home, or whose ECS home the integration also fills from other fields, fails the
conversion (SigmaTransformationError: the build stops). What one query language cannot say raises
SigmaFeatureNotSupportedByBackendError instead, so the release leaves the rule out of that language only
and records why:

* a value the integration deletes at ingest ('', '-', 'none');
* wildcards, regular expressions or CIDR on fields that are not keywords (flattened keys, booleans, dates);
* per query language (the backend is known from the pipeline's `backend` variable), from the field's
  type in the data stream (`ecs_fields.ECS_FIELD_TYPES`, the checked-in excerpt of the integration's fields):
  EQL and ES|QL cannot read flattened sub-fields (EQL: verification_exception "unsupported type
  [flattened]", elastic/elasticsearch#101985); EQL's `:` and `like~` compare strings only, and have no
  escape for a literal * or ?; ES|QL compares a keyword with strings only and casts a string to a boolean
  or date only when it is one; a Lucene value spelled exactly AND, OR or NOT is read as an operator; EQL
  expresses only `event_count >= n` correlations (`with runs=n`) and ordered ones of two steps; ES|QL ordered ones
  of two steps, and otherwise only thresholds of at least or more than n (over one run's events, "fewer than n" would hold for almost any burst
  cut short by the look-back); both finish their correlations for the default output format only
  (`elastic_correlations.py`).

EQL field names are written part by part, backquoted where Elasticsearch's EQL grammar requires (`eql_field`).

Field references (`fieldref`, e.g. requestParameters.userName equal to userIdentity.userName): Lucene query
syntax compares a field with constants only, so it refuses them. EQL cannot compare two fields with an operator
("You cannot use EQL comparison operators to compare a field to another field", EQL syntax reference,
Limitations) but its string functions take fields as arguments (EQL function reference: startsWith "If using a
field as the argument ..."; `~` makes a function case-insensitive), so `a == b` ignoring case is written
`startsWith~(a, b) and startsWith~(b, a)` (each a prefix of the other: the same string). ES|QL compares two
columns with `==`, case-sensitively, so both are lowered with TO_LOWER. Both are guarded with `!= null` /
`is not null`, so that `not` of the comparison is true for events without either field, as in Sigma. The
backends cannot write this themselves (both write a case-sensitive, null-unsafe `==`): the pipeline replaces the
field reference by the comparison already written (`FieldRefExpressionTransformation`), as pySigma's
SigmaQueryExpression, a query part every text backend writes as it is. Where the integration leaves a referenced
field is read as for any other field, except that userIdentity.userName is only accepted where the same detection
map pins userIdentity.type to IAMUser (ecs_fields.ECS_PINNED_FIELDS).

A check for a missing field (`null`, `exists: false`) also holds for events whose value the integration deleted
at ingest ('', '-', 'none' anywhere in the record): an IAM user named "-" or "none" as requestParameters.userName
reads as no userName on Elastic.

What the pySigma Elasticsearch backends (2.1.1) escape wrongly (raw line breaks and tabs in Lucene terms,
`\\<newline>` in EQL strings, wildcard escapes and raw line breaks in ES|QL strings, regular expressions),
`|cased` values and the modifiers the backends cannot write are handled value by value before conversion
(`elastic_values.py`): no query text is rewritten. EQL's ordered sequences and ES|QL's correlation window are
finished in postprocessing (`elastic_correlations.py`, which says why and under which contract).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sigma.conditions import ConditionAND
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.transformations import PreprocessingTransformation, SetStateTransformation
from sigma.processing.transformations.base import DetectionItemTransformation, FieldMappingTransformationBase
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaQueryExpression,
    SigmaRegularExpression,
    SigmaString,
)

from . import correlations, pysigma_compat
from .common import cloudtrail_rules_only, reject_unknown_fields
from .ecs_fields import ECS_DROPPED_VALUES, ECS_PINNED_FIELDS, NoEcsHome, ecs_field, ecs_field_type
from .elastic_correlations import EqlSequenceTransformation, EsqlWindowTransformation
from .elastic_rendered import RenderedEntryTransformation, check_rendered, uses_rendering
from .elastic_values import EQL, ESQL, LUCENE, EcsValueTransformation
from .negation import NullSafeNegationTransformation

TARGET = "ecs_cloudtrail"
INDEX = "logs-aws.cloudtrail-*"

#: Words the Lucene query parser reads as operators when they stand alone.
LUCENE_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT"})
#: Characters the ES|QL backend writes wrongly in a temporal correlation's `case(...)` strings (rule names).
_ESQL_BAD_TYPE_NAME = re.compile(r"[*?\r\n]")


def _fail(rule, message: str) -> None:
    """The rule is wrong for Elastic (a field the integration does not store as the rule means it): fail the build."""
    raise SigmaTransformationError(f"{TARGET}: {message}", source=getattr(rule, "source", None))


def _unsupported(rule, message: str) -> None:
    """This query language cannot say what the rule means: the rule is left out of that language, with this reason."""
    raise SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {message}", source=getattr(rule, "source", None))


def _backend(transformation) -> str | None:
    return pysigma_compat.backend_name(transformation)


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


def _anded_items(detection: SigmaDetection):
    """The items of an AND-linked detection, through nested AND-linked detections (not through OR)."""
    for item in detection.detection_items:
        if isinstance(item, SigmaDetectionItem):
            yield item
        elif item.item_linking is ConditionAND:
            yield from _anded_items(item)


def _pins(item: SigmaDetectionItem, field: str, value: str) -> bool:
    """`item` is `field: value` and nothing else: one plain string, equal to `value` ignoring case (as Sigma
    compares; CloudTrail writes userIdentity.type in one spelling)."""
    return (
        item.field == field
        and not item.modifiers
        and len(item.value) == 1
        and isinstance(item.value[0], SigmaString)
        and not item.value[0].contains_special()
        and str(item.value[0]).lower() == value.lower()
    )


def _is_iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _literal_text(value: SigmaString) -> str:
    """The literal characters of a Sigma string (wildcards left out)."""
    return "".join(part for part in value.s if isinstance(part, str))


def _check_string(rule, field: str, value: SigmaString, home: str, kind: str, backend: str | None) -> None:
    literal = _literal_text(value)
    if not value.contains_special() and literal.lower() in ECS_DROPPED_VALUES:
        _unsupported(
            rule,
            f"{field}: the integration deletes the value {literal!r} at ingest "
            "(its first script drops '', '-' and 'none'), so no Elastic query can match it",
        )
    if value.contains_special() and kind != "keyword":
        _unsupported(rule, f"{field}: wildcards are not supported on {home} ({kind} field)")
    if backend == EQL and ("*" in literal or "?" in literal):
        _unsupported(
            rule,
            f"{field}: EQL's case-insensitive ':' and 'like~' read * and ? as wildcards "
            "and have no escape for them, so a literal * or ? cannot be matched",
        )
    if backend == ESQL and value.contains_special() and any(c in literal for c in "*?\\"):
        _unsupported(rule, f"{field}: ES|QL LIKE patterns with a literal *, ? or \\ are not supported")
    if backend == LUCENE and not value.contains_special() and literal in LUCENE_OPERATOR_WORDS:
        _unsupported(rule, f"{field}: the value {literal!r} is read as an operator by the Lucene query parser")


def _check_value(rule, field: str, value, home: str, kind: str, backend: str | None) -> None:
    """One value the field is compared with: what no Elastic field of this kind, or no such query, can answer."""
    if isinstance(value, SigmaString):
        _check_string(rule, field, value, home, kind, backend)
    elif isinstance(value, (SigmaRegularExpression, SigmaCIDRExpression)) and kind != "keyword":
        _unsupported(rule, f"{field}: regular expressions and CIDR are not supported on {home} ({kind} field)")
    elif isinstance(value, SigmaCompareExpression) and kind == "flattened":
        _unsupported(rule, f"{field}: numeric comparisons are not supported on {home} (flattened field)")


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
            self._check_detection(rule, detection, backend)

    def _check_detection(self, rule, detection: SigmaDetection, backend: str | None, anded: tuple = ()) -> None:
        """Every item, knowing the items ANDed with it (one detection map, and the groups the backends nest in
        it, such as the EQL backend's null checks): a pin lives there."""
        group = anded + tuple(_anded_items(detection)) if detection.item_linking is ConditionAND else ()
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                self._check_detection(rule, item, backend, group)
            else:
                self._check_item(rule, item, backend, list(group))

    def _home(self, rule, name: str, siblings: list | None = None) -> str:
        if name in ECS_PINNED_FIELDS:
            home, pin_field, pin_value = ECS_PINNED_FIELDS[name]
            if any(_pins(i, pin_field, pin_value) for i in siblings or []):
                return home
        try:
            return ecs_field(name)
        except NoEcsHome as e:
            extra = ""
            if name in ECS_PINNED_FIELDS:
                _, pin_field, pin_value = ECS_PINNED_FIELDS[name]
                extra = f" (it is exact where the same detection map has {pin_field}: {pin_value})"
            _fail(rule, f"field {name} has no field in Elastic's AWS CloudTrail integration to match on: {e.reason}{extra}")
            raise  # unreachable

    def _check_item(self, rule, item: SigmaDetectionItem, backend: str | None, siblings: list | None = None) -> None:
        if item.field is None:
            _fail(rule, "keyword (field-less) detections have no ECS field to search; name the CloudTrail field")
        home = self._home(rule, item.field, siblings)
        kind = ecs_field_type(home)
        values = list(_values(item))
        for ref in values:
            if isinstance(ref, SigmaFieldReference):
                self._check_reference(rule, item, ref, home, kind, backend, siblings)
        values = [v for v in values if not isinstance(v, SigmaFieldReference)]
        if kind == "flattened" and uses_rendering(home, values, backend):  # matched in the keyword rendering
            check_rendered(item.field, home, values)
            for value in values:
                _check_value(rule, item.field, value, home, "keyword", LUCENE)  # the values the integration deletes
            return
        for value in values:
            _check_value(rule, item.field, value, home, kind, backend)
        if kind == "flattened" and backend == ESQL:
            _unsupported(rule, f"{item.field}: ES|QL cannot read flattened fields such as {home}")
        if kind == "flattened" and backend == EQL:
            _unsupported(
                rule,
                f"{item.field}: Elasticsearch EQL refuses sub-fields of flattened fields such as {home} "
                "(verification_exception: unsupported type [flattened], elastic/elasticsearch#101985)",
            )
        if backend == EQL:
            self._check_eql_types(rule, item, home, kind, values)
        if backend == ESQL:
            self._check_esql_types(rule, item, home, kind, values)

    def _check_reference(self, rule, item, ref: SigmaFieldReference, home: str, kind: str, backend, siblings) -> None:
        """A field reference: two keyword fields compared whole; only EQL and ES|QL can compare two fields."""
        what = f"{item.field}|fieldref: {ref.field}"
        if backend == LUCENE:
            _unsupported(rule, f"{what}: Lucene query syntax compares a field with constants only, not with another field")
        if ref.starts_with or ref.ends_with:
            _unsupported(rule, f"{what}: a field reference with startswith/endswith/contains is not supported")
        other = self._home(rule, ref.field, siblings)
        for name, field_home in ((item.field, home), (ref.field, other)):
            field_kind = ecs_field_type(field_home)
            if field_kind != "keyword":
                _unsupported(rule, f"{what}: {name} is {field_home}, a {field_kind} field; only keywords are compared")

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
        for ref in rule.referenced_rules:
            try:
                ref.rule.get_conversion_result()
            except SigmaError:  # refused by this query language (sigma convert -s goes on without it)
                _unsupported(rule, f"the rule it counts, {ref.rule.name or ref.rule.id}, was not converted for this query language")
        for name in rule.group_by or []:
            self._home(rule, name)
        condition = rule.condition
        fieldref = getattr(condition, "fieldref", None)  # an extended (temporal) condition has none
        if fieldref:
            for name in [fieldref] if isinstance(fieldref, str) else fieldref:
                self._home(rule, name)
        ordered = rule.type == SigmaCorrelationType.TEMPORAL_ORDERED
        if backend == EQL:
            self._check_eql_correlation(rule)
        if backend == ESQL and ordered:
            self._check_eql_sequence(rule)  # the same two steps, joined on keywords (elastic_correlations.esql_sequence)
        elif backend == ESQL:
            self._check_esql_correlation(rule)
        output_format = pysigma_compat.output_format(self)
        if (backend == ESQL or (backend == EQL and ordered)) and output_format != "default":
            _unsupported(
                rule,
                f"output format {output_format!r}: this correlation's query is finished by the pipeline "
                "(elastic_correlations.py) in the default output format only",
            )
        if backend in (EQL, ESQL) and ordered:
            correlations.stand_in(rule)  # no ordered template; elastic_correlations writes the query

    def _check_eql_correlation(self, rule: SigmaCorrelationRule) -> None:
        """EQL: ordered temporal correlations of two steps (a sequence), event_count ones with a gte condition."""
        if rule.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            self._check_eql_sequence(rule)
            return
        op = getattr(getattr(rule.condition, "op", None), "name", None)
        if rule.type != SigmaCorrelationType.EVENT_COUNT or op != "GTE":
            _unsupported(
                rule,
                "EQL expresses event_count correlations with a gte condition (a sequence 'with runs=n'; the "
                "backend would write runs=n for any other condition) and ordered temporal ones of two steps",
            )
        if not 1 <= int(rule.condition.count) <= 100:
            _unsupported(rule, "EQL sequences allow runs between 1 and 100")

    @staticmethod
    def _check_esql_correlation(rule: SigmaCorrelationRule) -> None:
        """ES|QL counting correlations (the ordered one is checked as EQL's sequence): the window
        elastic_correlations.py bounds: gte/gt thresholds (of one run's events at most the timespan
        apart, "fewer than n" holds for almost any burst the look-back cuts short); for a temporal correlation, rule
        names the backend writes correctly in its `case(...)` strings (it escapes them as plain values, not for
        ES|QL: elastic_values.EsqlString)."""
        condition = rule.condition
        if isinstance(condition, SigmaCorrelationCondition) and condition.op not in (
            SigmaCorrelationConditionOperator.GTE,
            SigmaCorrelationConditionOperator.GT,
        ):
            _unsupported(
                rule,
                "ES|QL correlations support gte/gt thresholds: the query counts one run's events at most the timespan "
                "apart, where 'fewer than N' or 'exactly N' would hold for events of a larger burst",
            )
        if rule.type == SigmaCorrelationType.TEMPORAL:
            for ref in rule.referenced_rules:
                name = str(ref.rule.name or ref.rule.id)
                if _ESQL_BAD_TYPE_NAME.search(name):
                    _unsupported(
                        rule,
                        f"the rule name {name!r}: pySigma-backend-elasticsearch writes a temporal correlation's rule "
                        "names into ES|QL strings with its wildcard escapes (\\*, \\?) and raw line breaks, which ES|QL "
                        "strings do not allow",
                    )

    def _check_eql_sequence(self, rule: SigmaCorrelationRule) -> None:
        """An ordered temporal correlation EQL writes as a two-stage sequence, and ES|QL as the pairs of its two
        steps' times, joined on keyword fields."""
        try:
            correlations.ordered_steps(rule)
        except correlations.NotTwoSteps as e:
            _unsupported(rule, f"{e}: an EQL sequence of two stages, each any of its rules")
        for name in rule.group_by or []:
            home = self._home(rule, name)
            if ecs_field_type(home) != "keyword":
                _unsupported(rule, f"group-by {name}: EQL sequences join on keyword fields; {home} is {ecs_field_type(home)}")


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
        if field in ECS_PINNED_FIELDS:  # EcsRuleCheckTransformation let it through only where it is pinned
            home = ECS_PINNED_FIELDS[field][0]
        else:
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


# --- field references -----------------------------------------------------------------------------------


def fieldref_expression(backend: str, left: str, right: str) -> str:
    """`left` equals `right` ignoring case, never null (see the module docstring), in EQL or ES|QL."""
    if backend == EQL:
        a, b = eql_field(left), eql_field(right)
        return f"({a} != null and {b} != null and startsWith~({a}, {b}) and startsWith~({b}, {a}))"
    return f"({left} is not null and {right} is not null and to_lower({left}) == to_lower({right}))"


@dataclass
class FieldRefExpressionTransformation(DetectionItemTransformation):
    """EQL and ES|QL: each field reference (after the field mapping, so the names are ECS names) becomes the
    comparison `fieldref_expression` writes, as a SigmaQueryExpression, which the backends write as it is."""

    def apply_detection_item(self, detection_item: SigmaDetectionItem):  # type: ignore[override]
        if not any(isinstance(v, SigmaFieldReference) for v in detection_item.value):
            return None
        backend = _backend(self)
        if backend not in (EQL, ESQL):  # unreachable: EcsRuleCheckTransformation refuses them for Lucene
            _unsupported(None, f"{detection_item.field}|fieldref: field references are written in EQL and ES|QL only")
        if len(detection_item.value) != 1:
            _unsupported(None, f"{detection_item.field}|fieldref: a field reference beside other values is not supported")
        (ref,) = detection_item.value
        expression = fieldref_expression(backend, *(_unquoted_field(n) for n in (detection_item.field, ref.field)))
        # SigmaQueryExpression.finalize formats its text with str.format: braces are doubled
        detection_item.value = [SigmaQueryExpression(expression.replace("{", "{{").replace("}", "}}"), "fieldref")]
        return detection_item


def _unquoted_field(name: str) -> str:
    """An ECS name as mapped for EQL (`eql_field`) back to its plain dotted form."""
    return ".".join(part[1:-1].replace("``", "`") if part.startswith("`") else part for part in name.split("."))


def ecs_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for ecs",
        priority=20,
        allowed_backends=frozenset({"lucene", "eql", "esql", "elasticsearch"}),
        items=[
            cloudtrail_rules_only(TARGET),
            reject_unknown_fields(TARGET),
            ProcessingItem(identifier=f"{TARGET}_null_safe_not", transformation=NullSafeNegationTransformation(frozenset({EQL, ESQL}))),
            ProcessingItem(identifier=f"{TARGET}_check", transformation=EcsRuleCheckTransformation()),
            ProcessingItem(identifier=f"{TARGET}_values", transformation=EcsValueTransformation()),
            ProcessingItem(identifier=f"{TARGET}_fields", transformation=EcsFieldMappingTransformation()),
            ProcessingItem(identifier=f"{TARGET}_rendered", transformation=RenderedEntryTransformation()),
            ProcessingItem(identifier=f"{TARGET}_fieldrefs", transformation=FieldRefExpressionTransformation()),
            ProcessingItem(identifier=f"{TARGET}_index", transformation=SetStateTransformation("index", INDEX)),
        ],
        postprocessing_items=[
            QueryPostprocessingItem(identifier=f"{TARGET}_eql_sequence", transformation=EqlSequenceTransformation()),
            QueryPostprocessingItem(identifier=f"{TARGET}_esql_window", transformation=EsqlWindowTransformation(index=INDEX)),
        ],
    )
