"""pySigma backends for Amazon Athena and AWS CloudTrail Lake: Sigma rules as Trino SQL over CloudTrail.

Both services run Trino's SQL (Athena engine version 3 is built on Trino,
https://docs.aws.amazon.com/athena/latest/ug/engine-versions-reference-0003.html; CloudTrail Lake queries are
"Trino-compatible" SELECT statements, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-limitations.html).
They differ in the table (tables.py) and in the time range each query carries:

* Athena (`-t athena`): `FROM <table> WHERE account IN (${ACCOUNT_IDS})`, the Region folder where the rule's
  events all live in one (regions.py), the day folders from the first day to the day after the last (a folder is
  the day CloudTrail delivered the file), and `eventtime` between `${START_TIME}` and `${END_TIME}`: substituted
  before the query runs, as Lake's are (docs/athena.md); Athena's positional execution parameters cannot repeat a
  value or carry a list of accounts.
* CloudTrail Lake (`-t cloudtrail_lake`): `FROM ${EVENT_DATA_STORE_ID} WHERE eventtime >= TIMESTAMP '${START_TIME}'
  AND eventtime < TIMESTAMP '${END_TIME}'`: StartQuery takes the SQL text alone (QueryParameters serve only the
  dashboards' QueryAlias), so the three names are substituted before the query is sent (docs/athena.md).

Semantics, each as Sigma means it and as the reference engine (pySigma's SQLite backend) runs it:

* strings compare case-insensitively: `lower(field) = 'value'`, `lower(field) LIKE 'va%' ESCAPE '\\'`; exact
  `=` for `|cased` values and the schema's canonical-case fields (the pipeline marks them);
* `not` keeps events without the field: `NOT coalesce(<expr>, false)`, as the reference's `NOT COALESCE(<expr>, 0)`
  (a comparison with NULL is NULL in SQL, and NOT NULL would drop the event);
* `null` is `IS NULL`, a field compared with another is `lower(a) = lower(b)`;
* regular expressions are `regexp_like` (Trino: Java-style patterns, https://trino.io/docs/current/functions/regexp.html);
* keywords (values without a field) are refused: neither table has the record's raw text.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import pysigma_compat
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from . import correlations
from .literals import (
    ESCAPE,
    check_no_placeholders,
    folded,
    has_wildcards,
    like_pattern,
    needs_engine_lower,
    plain_text,
    sql_string,
)
from .regions import GLOBAL_REGION, pinned_region
from .tables import ATHENA, LAKE, NoColumn, Table, column

REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")

_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def refuse(message: str, cond: Any = None) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(message, source=getattr(cond, "source", None))


class TrinoCloudTrailBackend(TextQueryBackend):
    """What Athena and CloudTrail Lake share: Trino SQL over one CloudTrail table (`table`)."""

    table: ClassVar[Table]
    requires_pipeline: ClassVar[bool] = True
    formats: ClassVar[dict[str, str]] = {"default": "Trino SQL: one SELECT per rule, with its time range"}

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    # CIDR values are expanded by pySigma into prefix wildcards (cidr_expression unset), as the reference does.
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<",
        CompareOperators.LTE: "<=",
        CompareOperators.GT: ">",
        CompareOperators.GTE: ">=",
    }
    correlation_methods: ClassVar[dict[str, str]] = {
        "window": "sliding windows: one per matching event, reaching back the timespan (the reference's plan)"
    }
    default_correlation_method: ClassVar[str] = "window"

    def __init__(self, processing_pipeline=None, collect_errors: bool = False, **backend_options: Any):
        super().__init__(processing_pipeline, collect_errors, **backend_options)

    # ---- the target's specifics ------------------------------------------------------------------------
    def source_sql(self, rules=()) -> str:
        """`FROM ... WHERE <time range>` of every query over the events of `rules` (the rule, or a correlation's)."""
        raise NotImplementedError

    def time_seconds(self) -> str:
        return self.table.time_seconds

    # ---- fields --------------------------------------------------------------------------------------------
    def column(self, name: str, cond: Any = None) -> str:
        try:
            return column(self.table, name)
        except NoColumn as e:
            raise refuse(f"{self.table.name}: {e}", cond) from None

    def _negated(self, cond) -> bool:
        return cond.parent is not None and cond.parent_condition_chain_contains(ConditionNOT)

    # ---- boolean structure ---------------------------------------------------------------------------------
    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState):
        """`NOT coalesce(x, false)`: a comparison on a missing field is NULL in SQL; Sigma reads it as false."""
        expr = self.convert_condition(cond.args[0], state)
        return f"NOT coalesce({expr}, false)"

    def compare_precedence(self, outer, inner) -> bool:
        """A comparison needs no parentheses, unless its value is an expansion (|windash, |base64offset, ...),
        which pySigma writes as an OR of comparisons."""
        if isinstance(inner, ConditionFieldEqualsValueExpression) and not isinstance(inner.value, SigmaExpansion):
            return True
        return super().compare_precedence(outer, inner)

    # ---- strings -------------------------------------------------------------------------------------------
    def _string(self, field: str, value: SigmaString, cased: bool) -> str:
        check_no_placeholders(value)
        if value.s and all(p == SpecialChars.WILDCARD_MULTI for p in value.s):
            return f"{field} IS NOT NULL"  # `*` alone: any value
        if not has_wildcards(value):
            text = plain_text(value)
            return f"{field} = {sql_string(text)}" if cased else f"lower({field}) = {folded(text)}"
        if cased:
            return f"{field} LIKE {sql_string(like_pattern(value, False))} ESCAPE '{ESCAPE}'"
        engine = needs_engine_lower(plain_text(value))
        pattern = sql_string(like_pattern(value, not engine))
        return f"lower({field}) LIKE {'lower(' + pattern + ')' if engine else pattern} ESCAPE '{ESCAPE}'"

    def convert_condition_field_eq_val_str(self, cond, state):
        return self._string(self.column(cond.field, cond), cond.value, isinstance(cond.value, SigmaCasedString))

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    # ---- lists ---------------------------------------------------------------------------------------------
    def decide_convert_condition_as_in_expression(self, cond, state) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state) or len(cond.args) < 2:
            return False
        values = [arg.value for arg in cond.args]
        if not all(isinstance(v, SigmaString) and not has_wildcards(v) for v in values):
            return False
        kinds = {isinstance(v, SigmaCasedString) for v in values}
        return len(kinds) == 1 and not any(needs_engine_lower(plain_text(v)) for v in values)

    def convert_condition_as_in_expression(self, cond, state):
        """`field IN (...)`, each literal once: values that differ only in case (`invite`, `INVITE`, listed for the
        targets that compare case-sensitively) fold to one; a single one left is `=`."""
        field = self.column(cond.args[0].field, cond)
        values = [arg.value for arg in cond.args]
        if isinstance(values[0], SigmaCasedString):
            field, literals = field, [sql_string(plain_text(v)) for v in values]
        else:
            field, literals = f"lower({field})", [folded(plain_text(v)) for v in values]
        literals = list(dict.fromkeys(literals))
        return f"{field} = {literals[0]}" if len(literals) == 1 else f"{field} IN ({', '.join(literals)})"

    # ---- other values --------------------------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond, state):
        # every column holds the record's text: a JSON number is compared as the text it is written as
        return f"{self.column(cond.field, cond)} = {sql_string(str(cond.value))}"

    def convert_condition_field_eq_val_bool(self, cond, state):
        value: SigmaBool = cond.value  # the record's JSON true/false, as text in every column (tables.py)
        return f"lower({self.column(cond.field, cond)}) = '{'true' if value.boolean else 'false'}'"

    def convert_condition_field_eq_val_null(self, cond, state):
        return f"{self.column(cond.field, cond)} IS NULL"

    def convert_condition_field_exists(self, cond, state):
        return f"{self.column(cond.field, cond)} IS NOT NULL"

    def convert_condition_field_not_exists(self, cond, state):
        return f"{self.column(cond.field, cond)} IS NULL"

    def convert_condition_field_compare_op_val(self, cond, state):
        value: SigmaCompareExpression = cond.value
        if not isinstance(value.number, SigmaNumber):
            raise refuse(f"{cond.field}: only numbers can be compared with lt/lte/gt/gte", cond)
        field = self.column(cond.field, cond)
        return f"try_cast({field} AS double) {self.compare_operators[value.op]} {value.number}"

    def convert_condition_field_eq_val_re(self, cond, state):
        regex: SigmaRegularExpression = cond.value
        check_no_placeholders(regex.regexp)
        flags = "".join(sorted(_FLAGS[f] for f in regex.flags))
        pattern = (f"(?{flags})" if flags else "") + str(regex.regexp)
        return f"regexp_like({self.column(cond.field, cond)}, {sql_string(pattern)})"

    def convert_condition_field_eq_field(self, cond, state):
        ref: SigmaFieldReference = cond.value
        if ref.starts_with or ref.ends_with:
            raise refuse(
                f"{cond.field}|fieldref with startswith/endswith/contains: the field's value would be a LIKE pattern, "
                "and its own % and _ would act as wildcards",
                cond,
            )
        return f"lower({self.column(cond.field, cond)}) = lower({self.column(ref.field, cond)})"

    def convert_condition_field_eq_val_timestamp_part(self, cond, state):
        raise refuse(f"timestamp part modifiers (|minute, |hour, ...) on {cond.field} are not supported", cond)

    def _keyword(self, cond, state):
        raise refuse(
            f"keyword {cond.value!s}: values without a field match the raw record, which the {self.table.name} "
            "table does not hold; name the field",
            cond,
        )

    convert_condition_val_str = _keyword
    convert_condition_val_num = _keyword
    convert_condition_val_re = _keyword

    # ---- whole queries -------------------------------------------------------------------------------------
    def select_list(self, rule: SigmaRule) -> str:
        names = ["eventTime", "eventID", "eventSource", "eventName", *(rule.fields or [])]
        items = []
        for name in dict.fromkeys(names):
            expr = self.table.time_column if name == "eventTime" else self.column(name, rule)
            items.append(expr if expr == name.lower() else f'{expr} AS "{name}"')
        return ",\n       ".join(items)

    def full_query(self, rule: SigmaRule, condition: str) -> str:
        return (
            f"SELECT {self.select_list(rule)}\n"
            f"{self.source_sql([rule])}\n"
            f"  AND ({condition})\n"
            f"ORDER BY {self.table.time_column}, eventid"
        )

    def finalize_query_default(self, rule, query: str, index: int, state: ConversionState) -> str:
        return self.full_query(rule, query)

    def finalize_output_default(self, queries: list[str]) -> list[str]:
        return queries

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback=None) -> list[Any]:
        queries = super().convert_rule(rule, output_format, callback)
        if queries and pysigma_compat.leaves_unfinished(self, rule):  # output too (generate: true): finished
            queries = pysigma_compat.finished_queries(self, rule, output_format or "default")
        return queries

    # ---- correlations --------------------------------------------------------------------------------------
    def convert_correlation_rule(self, rule: SigmaCorrelationRule, output_format=None, method=None, callback=None):
        try:
            self.last_processing_pipeline.apply(rule)
            return [correlations.query(self, rule)]
        except SigmaError as e:
            if not self.collect_errors:
                raise
            self.errors.append((rule, e))
            return []


class AthenaBackend(TrinoCloudTrailBackend):
    """Amazon Athena over the organization trail's S3 bucket, table as AWS documents it (ddl.py)."""

    name: ClassVar[str] = "Amazon Athena"
    identifier: ClassVar[str] = "athena"
    table: ClassVar[Table] = ATHENA
    #: The table the shipped DDL creates (ddl.py); backend option `table` names another.
    default_table: ClassVar[str] = "cloudtrail_organization"
    ACCOUNTS, START, END = "${ACCOUNT_IDS}", "${START_TIME}", "${END_TIME}"

    def __init__(self, processing_pipeline=None, collect_errors: bool = False, table: str | None = None,
                 global_region: str | None = None, **options):
        super().__init__(processing_pipeline, collect_errors, **options)
        self.table_name = table or self.default_table
        if not correlations.IDENTIFIER.fullmatch(self.table_name):
            raise SigmaFeatureNotSupportedByBackendError(f"table name {self.table_name!r}: use letters, digits, _ and one optional database. prefix")
        self.global_region = global_region or GLOBAL_REGION
        if not REGION_NAME.fullmatch(self.global_region):
            raise SigmaFeatureNotSupportedByBackendError(f"global_region {self.global_region!r}: a Region name such as us-east-1")

    def source_sql(self, rules=()) -> str:
        """The accounts named at run time (`account` is an injected partition: ddl.py), the Region folder when the
        rules' events are all in one (regions.py), the day folders from the first day to the day after the last
        (a folder is the delivery day: an event late in the last day is in the next day's folder), and the event
        time itself (`eventtime` is ISO 8601 text, so strings compare as times: docs/athena.md)."""
        region = pinned_region(rules, self.global_region)
        return (
            f"FROM {self.table_name}\n"
            f"WHERE account IN ({self.ACCOUNTS})\n"
            + (f"  AND region = {sql_string(region)}\n" if region else "")
            + f"  AND \"timestamp\" BETWEEN replace(substr('{self.START}', 1, 10), '-', '/')\n"
            f"    AND date_format(date_add('day', 1, from_iso8601_date(substr('{self.END}', 1, 10))), '%Y/%m/%d')\n"
            f"  AND eventtime >= replace('{self.START}', ' ', 'T') AND eventtime < replace('{self.END}', ' ', 'T')"
        )


class CloudTrailLakeBackend(TrinoCloudTrailBackend):
    """AWS CloudTrail Lake event data stores (StartQuery)."""

    name: ClassVar[str] = "AWS CloudTrail Lake"
    identifier: ClassVar[str] = "cloudtrail_lake"
    table: ClassVar[Table] = LAKE
    EVENT_DATA_STORE = "${EVENT_DATA_STORE_ID}"
    START, END = "${START_TIME}", "${END_TIME}"

    def source_sql(self, rules=()) -> str:
        return (
            f"FROM {self.EVENT_DATA_STORE}\n"
            f"WHERE eventtime >= TIMESTAMP '{self.START}' AND eventtime < TIMESTAMP '{self.END}'"
        )


__all__ = ["AthenaBackend", "CloudTrailLakeBackend", "TrinoCloudTrailBackend"]
