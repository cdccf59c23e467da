"""pySigma backend for Amazon CloudWatch Logs Insights (Logs Insights QL), with metric filter patterns as a format.

Syntax references, cited where used:

* CWL_QuerySyntax - commands (`fields`, `filter`, `stats`, `sort`), "Matches and regular expressions in the filter
  command" (`=`, `!=`, `in [...]`, `like "substring"`, `like /regex/`, `=~`, `and`/`or`/`not`), general functions
  (`ispresent`), IP address functions (`isIpInSubnet`), stats functions (`count`, `count_distinct`, `sum`, `avg`,
  `pct`) and `bin(period)`.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html
* CWL_QuerySyntax-Stats - `stats count(*) by queryType, bin(1h)` and the `bin` time units.
* CWL_AnalyzeLogData-discoverable-fields - JSON fields in dot notation, array elements by index, `@message`.

Semantics that AWS does not document, and how the output stays right under every reading:

* Precedence of `and` vs `or`: every mixed and/or is parenthesized, so no precedence is relied on.
* A comparison on a field the event lacks: under a `not`, each comparison is guarded with `ispresent(field) and`,
  so `not (...)` is true for events without the field - Sigma's meaning - whether the bare comparison would be
  false or null (SQL-like) there.
* Escapes inside `"..."`: none are used; values that would need one are matched with a regex (see `literals.py`).
* Field references (`fieldref`) compare `tolower()` of both fields: whether `tolower` folds letters outside ASCII
  is not documented, and SQLite's NOCASE (the reference engine) folds ASCII only, so the two agree on ASCII values
  (every IAM user name: IAM's pattern is `[\\w+=,.@-]+`) and may differ on non-ASCII letters that differ in case.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
)
from sigma.exceptions import SigmaConfigurationError, SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import pysigma_compat
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from . import metric_filter
from .literals import (
    check_no_placeholders,
    is_exact_value,
    is_literal_safe,
    needs_case_folding,
    plain_text,
    quote_field,
    regex_char,
    string_literal,
    value_regex,
)
from .query_definition import bad_log_group_name, check_query_length, query_definition
from .regex import escape_for_literal, is_control, unsupported_construct

_FLAG_LETTERS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def _refuse(message: str, cond: Any = None) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(message, source=getattr(cond, "source", None))


class CloudWatchLogsInsightsBackend(TextQueryBackend):
    """CloudWatch Logs Insights QL queries over JSON events (CloudTrail in a CloudWatch Logs log group)."""

    name: ClassVar[str] = "Amazon CloudWatch Logs Insights"
    identifier: ClassVar[str] = "cloudwatch"  # sigma-cli -t cloudwatch (pySigma's plugin discovery reads this)
    formats: ClassVar[dict[str, str]] = {
        "default": "Logs Insights QL query: fields, filter, sort @timestamp desc",
        "query_definition": "Saved query for PutQueryDefinition / AWS::Logs::QueryDefinition (name, queryString, logGroupNames, queryLanguage)",
        "metric_filter": "CloudWatch Logs metric filter pattern for JSON events ({ $.field = \"value\" })",
    }
    # Field names and canonical-case fields are the pipeline's knowledge (-p cloudwatch_cloudtrail): without one,
    # sigma-cli stops and asks for it (or --without-pipeline), as pySigma's Splunk and Elasticsearch backends do, so
    # a rule is never converted without the CloudTrail checks by accident.
    requires_pipeline: ClassVar[bool] = True

    # Boolean structure. `and` binds like `or` here on purpose: mixed and/or are always grouped (compare_precedence).
    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = " = "

    # Values: exact literal, substring, regular expression (literals.py decides which one a value needs).
    str_quote: ClassVar[str] = '"'
    eq_expression: ClassVar[str] = "{field} = {value}"
    contains_expression: ClassVar[str] = "{field} like {value}"
    wildcard_match_expression: ClassVar[str] = "{field} like /{regex}/"
    re_expression: ClassVar[str] = "{field} like /{regex}/"
    cidr_expression: ClassVar[str] = 'isIpInSubnet({field}, "{value}")'
    compare_op_expression: ClassVar[str] = "{field} {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<",
        CompareOperators.LTE: "<=",
        CompareOperators.GT: ">",
        CompareOperators.GTE: ">=",
    }
    # Sigma compares strings case-insensitively; Logs Insights `=` does not. `tolower(string)` "Converts the string
    # to lowercase" (CWL_QuerySyntax, "String functions"), so both sides are lowered: `User` and `user` compare
    # equal, `bob` and `bobby` never do (whole values).
    field_equals_field_expression: ClassVar[str] = "tolower({field1}) = tolower({field2})"
    field_null_expression: ClassVar[str] = "not ispresent({field})"
    field_exists_expression: ClassVar[str] = "ispresent({field})"
    field_not_exists_expression: ClassVar[str] = "not ispresent({field})"
    # Under a `not`, a comparison is only made where its fields exist (see module docstring).
    guard_field_expression: ClassVar[str] = "ispresent({field})"
    guard_expression: ClassVar[str] = "({guards} and {expr})"

    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_in_list_expression: ClassVar[str] = "{field} {op} [{list}]"
    or_in_operator: ClassVar[str] = "in"
    list_separator: ClassVar[str] = ", "

    # Keywords match anywhere in the raw event text, `@message` (CWL_AnalyzeLogData-discoverable-fields).
    unbound_value_str_expression: ClassVar[str] = "@message like /{value}/"
    unbound_value_num_expression: ClassVar[str] = "@message like /{value}/"
    unbound_value_re_expression: ClassVar[str] = "@message like /{value}/"

    # Query frame for a rule (default and query_definition formats).
    query_fields_expression: ClassVar[str] = "fields {fields}"
    query_filter_expression: ClassVar[str] = "filter {query}"
    query_sort_expression: ClassVar[str] = "sort @timestamp desc"
    command_separator: ClassVar[str] = "\n| "
    default_display_fields: ClassVar[tuple[str, ...]] = ("@timestamp", "@message")

    # Correlations: stats over fixed bin() buckets of @timestamp. Aliases are camelCase: a bare name with `_` would
    # need backticks ([CWL_QuerySyntax]: only @, . and alphanumerics may stand bare).
    correlation_methods: ClassVar[dict[str, str]] = {
        "stats": "stats ... by bin(timespan): counts per fixed time bucket (not a sliding window)",
    }
    default_correlation_method: ClassVar[str] = "stats"
    default_correlation_query: ClassVar[dict[str, str]] = {"stats": "{search}\n| {aggregate}\n| {condition}"}
    correlation_search_single_rule_expression: ClassVar[str] = "filter {query}"
    correlation_search_multi_rule_expression: ClassVar[str] = "filter {queries}"
    correlation_search_multi_rule_query_expression: ClassVar[str] = "({query})"
    correlation_search_multi_rule_query_expression_joiner: ClassVar[str] = " or "
    _by: ClassVar[str] = "by {groupby}bin({timespan})"
    event_count_aggregation_expression: ClassVar[dict[str, str]] = {"stats": "stats count(*) as eventCount " + _by}
    value_count_aggregation_expression: ClassVar[dict[str, str]] = {
        "stats": "stats count_distinct({field}) as valueCount " + _by
    }
    value_sum_aggregation_expression: ClassVar[dict[str, str]] = {"stats": "stats sum({field}) as valueSum " + _by}
    value_avg_aggregation_expression: ClassVar[dict[str, str]] = {"stats": "stats avg({field}) as valueAvg " + _by}
    value_percentile_aggregation_expression: ClassVar[dict[str, str]] = {
        "stats": "stats pct({field}, {percentile}) as valuePercentile " + _by
    }
    value_median_aggregation_expression: ClassVar[dict[str, str]] = {
        "stats": "stats pct({field}, 50) as valueMedian " + _by
    }
    groupby_expression: ClassVar[dict[str, str]] = {"stats": "{fields}, "}
    groupby_field_expression: ClassVar[dict[str, str]] = {"stats": "{field}"}
    groupby_field_expression_joiner: ClassVar[dict[str, str]] = {"stats": ", "}
    groupby_expression_nofield: ClassVar[dict[str, str]] = {"stats": ""}
    event_count_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter eventCount {op} {count}"}
    value_count_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter valueCount {op} {count}"}
    value_sum_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter valueSum {op} {count}"}
    value_avg_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter valueAvg {op} {count}"}
    value_percentile_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter valuePercentile {op} {count}"}
    value_median_condition_expression: ClassVar[dict[str, str]] = {"stats": "filter valueMedian {op} {count}"}
    correlation_condition_mapping: ClassVar[dict[SigmaCorrelationConditionOperator, str]] = {
        SigmaCorrelationConditionOperator.LT: "<",
        SigmaCorrelationConditionOperator.LTE: "<=",
        SigmaCorrelationConditionOperator.GT: ">",
        SigmaCorrelationConditionOperator.GTE: ">=",
        SigmaCorrelationConditionOperator.EQ: "=",
        SigmaCorrelationConditionOperator.NEQ: "!=",
    }
    # Sigma timespan units s, m, h, d, w, M, y; bin() knows s, m, h, d, w, mo, y (CWL_QuerySyntax-Stats).
    timespan_mapping: ClassVar[dict[str, str]] = {"M": "mo"}

    def __init__(
        self,
        processing_pipeline=None,
        collect_errors: bool = False,
        query_definition_prefix: str = "",
        log_group_names: str | list[str] | None = None,
        **backend_options: Any,
    ):
        super().__init__(processing_pipeline, collect_errors, **backend_options)
        self.query_definition_prefix = query_definition_prefix or ""
        self.log_group_names = self._log_group_names(log_group_names)
        self._output_format = self.default_format

    @staticmethod
    def _log_group_names(value: str | list[str] | None) -> list[str]:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
        for n in names:
            reason = bad_log_group_name(n)
            if reason:
                raise SigmaConfigurationError(reason)
        return names

    # ---- dispatch on output format -------------------------------------------------------------------------
    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback=None) -> list[Any]:
        self._output_format = output_format or self.default_format
        queries = super().convert_rule(rule, output_format, callback)
        if queries and pysigma_compat.leaves_unfinished(self, rule):
            # A rule that a correlation references keeps its bare filter expression as conversion result (the
            # correlation's search embeds it), but when it is also output (generate: true) it is output finished.
            queries = pysigma_compat.finished_queries(self, rule, self._output_format)
        return queries

    def convert_condition(self, cond, state: ConversionState):
        if self._output_format == "metric_filter":
            # the whole condition tree at once: filter patterns need negations pushed down (metric_filter.py)
            return metric_filter.filter_pattern(cond)
        return super().convert_condition(cond, state)

    # ---- structure -----------------------------------------------------------------------------------------
    def escape_and_quote_field(self, field_name: str) -> str:
        return quote_field(field_name)

    def compare_precedence(self, outer, inner) -> bool:
        """No grouping for leaves, `not`, and chains of the outer operator; every mixed and/or is grouped."""
        mapping = {CorrelationConditionAND: ConditionAND, CorrelationConditionOR: ConditionOR, CorrelationConditionNOT: ConditionNOT}
        outer_class = mapping.get(type(outer), type(outer))
        if isinstance(inner, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
            if not isinstance(inner.value, SigmaExpansion):
                return True
            inner_class: type = ConditionOR
        else:
            inner_class = mapping.get(type(inner), type(inner))
            if inner_class in (ConditionOR, ConditionAND) and self.decide_convert_condition_as_in_expression(
                inner, ConversionState()
            ):
                return True  # rendered as one `field in [...]` comparison
        return inner_class is ConditionNOT or inner_class is outer_class or inner_class not in self.precedence

    def _guard(self, cond, fields: list[str], expr: str) -> str:
        """Guard a comparison under `not` with ispresent() of the fields it reads (keywords: just group it)."""
        parent = getattr(cond, "parent", None)
        if parent is None or not cond.parent_condition_chain_contains(ConditionNOT):
            return expr
        if not fields:
            return self.group_expression.format(expr=expr)
        guards = " and ".join(self.guard_field_expression.format(field=self.escape_and_quote_field(f)) for f in fields)
        return self.guard_expression.format(guards=guards, expr=expr)

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState):
        arg = cond.args[0]
        if isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, (SigmaNull, SigmaExists)):
            present = isinstance(arg.value, SigmaNull) or not arg.value  # not null / not (not exists) -> present
            template = self.field_exists_expression if present else self.field_not_exists_expression
            return template.format(field=self.escape_and_quote_field(arg.field))
        if isinstance(arg, (ConditionFieldEqualsValueExpression, ConditionValueExpression)) and isinstance(
            arg.value, SigmaExpansion
        ):
            # a windash/base64offset value converts into an OR of its alternatives: negate the group as a whole
            expr = self.convert_condition(arg, state)
            return self.not_token + self.token_separator + self.group_expression.format(expr=expr)
        if isinstance(arg, (ConditionOR, ConditionAND)) and self.decide_convert_condition_as_in_expression(arg, state):
            return self.not_token + self.token_separator + self.convert_condition_as_in_expression(arg, state)
        return super().convert_condition_not(cond, state)

    def convert_condition_field_eq_expansion(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState):
        """windash/base64offset alternatives: OR them, keeping the parent link so negation guards still apply."""
        expansion = cond.value
        or_cond = ConditionOR([ConditionFieldEqualsValueExpression(cond.field, v) for v in expansion.values], cond.source)
        or_cond.parent = cond.parent
        for arg in or_cond.args:
            arg.parent = or_cond
        if self.decide_convert_condition_as_in_expression(or_cond, state):
            return self.convert_condition_as_in_expression(or_cond, state)
        return self.convert_condition_or(or_cond, state)

    # ---- lists ---------------------------------------------------------------------------------------------
    def decide_convert_condition_as_in_expression(self, cond, state: ConversionState) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state) or len(cond.args) < 2:
            return False
        return all(
            isinstance(arg.value, SigmaNumber) or (isinstance(arg.value, SigmaString) and is_exact_value(arg.value))
            for arg in cond.args
        )

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return string_literal(plain_text(s))

    def convert_condition_as_in_expression(self, cond, state: ConversionState):
        field = cond.args[0].field
        expr = super().convert_condition_as_in_expression(cond, state)
        return self._guard(cond, [field], expr)

    # ---- strings -------------------------------------------------------------------------------------------
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState):
        value: SigmaString = cond.value
        field = self.escape_and_quote_field(cond.field)
        check_no_placeholders(value)
        if value.s and all(p == SpecialChars.WILDCARD_MULTI for p in value.s):
            return self.field_exists_expression.format(field=field)  # `*` alone: any value
        if is_exact_value(value):
            expr = self.eq_expression.format(field=field, value=string_literal(plain_text(value)))
        elif (inner := self._plain_contains(value)) is not None:
            expr = self.contains_expression.format(field=field, value=string_literal(inner))
        else:
            expr = self.wildcard_match_expression.format(field=field, regex=value_regex(value))
        return self._guard(cond, [cond.field], expr)

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    @staticmethod
    def _plain_contains(value: SigmaString) -> str | None:
        """The substring for `like "..."` (substring, case-sensitive) if `value` is `*text*` needing nothing else."""
        parts = value.s
        if len(parts) != 3 or parts[0] != SpecialChars.WILDCARD_MULTI or parts[2] != SpecialChars.WILDCARD_MULTI:
            return None
        text = parts[1]
        if not isinstance(text, str) or not text or not is_literal_safe(text) or needs_case_folding(value):
            return None
        return text

    # ---- other value types ---------------------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond, state):
        expr = self.eq_expression.format(field=self.escape_and_quote_field(cond.field), value=cond.value)
        return self._guard(cond, [cond.field], expr)

    def convert_condition_field_eq_val_bool(self, cond, state):
        raise _refuse(
            f"boolean value for {cond.field}: Logs Insights does not document how it represents JSON true/false "
            "in discovered fields, so no comparison is known to be right; match the field another way",
            cond,
        )

    def convert_condition_field_eq_val_timestamp_part(self, cond, state):
        raise _refuse(f"timestamp part modifiers (|minute, |hour, ...) on {cond.field} are not supported", cond)

    def convert_condition_field_compare_op_val(self, cond, state):
        value: SigmaCompareExpression = cond.value
        expr = self.compare_op_expression.format(
            field=self.escape_and_quote_field(cond.field), operator=self.compare_operators[value.op], value=value.number
        )
        return self._guard(cond, [cond.field], expr)

    def convert_condition_field_eq_val_re(self, cond, state):
        regex: SigmaRegularExpression = cond.value
        expr = self.re_expression.format(field=self.escape_and_quote_field(cond.field), regex=self._regex_text(regex, cond))
        return self._guard(cond, [cond.field], expr)

    def _regex_text(self, regex: SigmaRegularExpression, cond) -> str:
        check_no_placeholders(regex.regexp)
        pattern = str(regex.regexp)
        reason = unsupported_construct(pattern)
        if reason:
            raise _refuse(
                f"regular expression {pattern!r} uses {reason}, which Logs Insights' regex engine (Hyperscan) "
                "does not support",
                cond,
            )
        flags = "".join(sorted(_FLAG_LETTERS[f] for f in regex.flags))
        return (f"(?{flags})" if flags else "") + escape_for_literal(pattern)

    def convert_condition_field_eq_val_cidr(self, cond, state):
        cidr: SigmaCIDRExpression = cond.value
        return self.cidr_expression.format(field=self.escape_and_quote_field(cond.field), value=str(cidr.network))

    def convert_condition_field_eq_field(self, cond, state):
        ref: SigmaFieldReference = cond.value
        if ref.starts_with or ref.ends_with:
            raise _refuse(
                f"field reference with startswith/endswith/contains ({cond.field}|fieldref): Logs Insights has no "
                "operator that matches a field against another field's value as a pattern",
                cond,
            )
        expr = self.field_equals_field_expression.format(
            field1=self.escape_and_quote_field(cond.field), field2=self.escape_and_quote_field(ref.field)
        )
        return self._guard(cond, [cond.field, ref.field], expr)

    # ---- keywords ------------------------------------------------------------------------------------------
    def convert_condition_val_str(self, cond: ConditionValueExpression, state):
        value: SigmaString = cond.value
        check_no_placeholders(value)
        fold = needs_case_folding(value)
        body: list[str] = []
        wildcard = False
        for part in value.s:
            if isinstance(part, str):
                if any(is_control(c) for c in part):
                    raise _refuse(
                        f"keyword {str(value)!r} holds control characters, whose escaping in the event's JSON text "
                        "is not fixed, so it cannot be matched reliably in @message",
                        cond,
                    )
                # the keyword as it appears inside a JSON string in @message: '"' and '\' are backslash-escaped
                encoded = json.dumps(part, ensure_ascii=False)[1:-1]
                body.extend(regex_char(c, fold) for c in encoded)
            else:
                body.append(".*" if part == SpecialChars.WILDCARD_MULTI else ".")
                wildcard = True
        flags = ("i" if fold else "") + ("s" if wildcard else "")
        regex = (f"(?{flags})" if flags else "") + "".join(body)
        return self._guard(cond, [], self.unbound_value_str_expression.format(value=regex))

    def convert_condition_val_num(self, cond, state):
        return self._guard(cond, [], self.unbound_value_num_expression.format(value=re.escape(str(cond.value))))

    def convert_condition_val_re(self, cond, state):
        return self._guard(cond, [], self.unbound_value_re_expression.format(value=self._regex_text(cond.value, cond)))

    # ---- correlations --------------------------------------------------------------------------------------
    def convert_correlation_rule(self, rule: SigmaCorrelationRule, output_format=None, method=None, callback=None):
        """A refused correlation is collected like a refused rule when errors are collected (`sigma convert -s`):
        pySigma's base class collects only rule errors, so the whole conversion would stop on it."""
        try:
            return self._convert_correlation_rule(rule, output_format, method, callback)
        except SigmaError as e:
            if not self.collect_errors:
                raise
            self.errors.append((rule, e))
            return []

    def _convert_correlation_rule(self, rule: SigmaCorrelationRule, output_format, method, callback):
        self._output_format = output_format or self.default_format
        if self._output_format == "metric_filter":
            raise _refuse(
                "metric filter pattern: correlation rules count events over time, which a filter pattern (one event "
                "at a time) cannot; use the Logs Insights query",
                rule,
            )
        if len(rule.aliases):
            raise _refuse("correlation field aliases cannot be expressed: Logs Insights stats cannot rename per rule", rule)
        fieldref = getattr(rule.condition, "fieldref", None)
        if isinstance(fieldref, list) and len(fieldref) != 1:
            raise _refuse("a correlation condition over several fields cannot be expressed with one stats function", rule)
        if isinstance(fieldref, list):
            rule.condition.fieldref = fieldref[0]
        return super().convert_correlation_rule(rule, output_format, method, callback)

    def _temporal(self, rule, *args, **kwargs):
        raise _refuse(
            f"{rule.type.name.lower()} correlation: Logs Insights QL cannot "
            "tag events with the rule that matched them inside one stats query, so 'every rule matched within the "
            "timespan' (and its ordered form) cannot be expressed",
            rule,
        )

    convert_correlation_temporal_rule = _temporal
    convert_correlation_temporal_ordered_rule = _temporal
    convert_correlation_extended_temporal_rule = _temporal
    convert_correlation_extended_temporal_ordered_rule = _temporal

    # ---- finalization --------------------------------------------------------------------------------------
    def _check_length(self, rule, query: str) -> str:
        try:
            return check_query_length(query)
        except SigmaFeatureNotSupportedByBackendError as e:
            raise _refuse(str(e.args[0]), rule) from None

    def full_query(self, rule: SigmaRule | SigmaCorrelationRule, query: str) -> str:
        """The complete query: for a rule its fields, filter and sort commands; a correlation is already complete."""
        if isinstance(rule, SigmaCorrelationRule):
            return self._check_length(rule, query)
        names = ["@timestamp", *(rule.fields or [])] if rule.fields else list(self.default_display_fields)
        fields = ", ".join(self.escape_and_quote_field(f) for f in dict.fromkeys(names))
        commands = [
            self.query_fields_expression.format(fields=fields),
            self.query_filter_expression.format(query=query),
            self.query_sort_expression,
        ]
        return self._check_length(rule, self.command_separator.join(commands))

    def finalize_query_default(self, rule, query: str, index: int, state: ConversionState) -> str:
        return self.full_query(rule, query)

    def finalize_query_query_definition(self, rule, query: str, index: int, state: ConversionState) -> dict:
        name = self.query_definition_prefix + (rule.title or str(rule.id))
        if index:
            name += f" ({index + 1})"
        try:
            return query_definition(name, self.full_query(rule, query), self.log_group_names)
        except SigmaFeatureNotSupportedByBackendError as e:
            raise _refuse(str(e.args[0]), rule) from None

    def finalize_output_query_definition(self, queries: list[dict]) -> list[dict]:
        return queries

    def finalize_query_metric_filter(self, rule, query: str, index: int, state: ConversionState) -> str:
        return query

    def finalize_output_metric_filter(self, queries: list[str]) -> list[str]:
        return queries
