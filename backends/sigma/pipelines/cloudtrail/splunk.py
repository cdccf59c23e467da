"""CloudTrail processing pipeline for the splunk target (pysigma-backend-splunk's `splunk` backend).

The searches run over CloudTrail as the Splunk Add-on for AWS indexes it: sourcetype `aws:cloudtrail`,
JSON events extracted at search time (KV_MODE=json), so every field is named by its JSON path with dots,
exactly as CloudTrail writes it (`userIdentity.arn`, `requestParameters.userName`): no field mapping.

What the pipeline adds to the backend, for the `default` output format (one SPL search per rule):

* Scope and tuning macros. Every search starts with the scope macro
  `` `cloudtrail_detection_pack_cloudtrail` `` (the SOC edits its definition, `(index=aws
  sourcetype=aws:cloudtrail)` by default, to its index and sourcetype) and ends in its own empty tuning
  macro `` `<slug>_filter` `` (definition `search *`), the way Splunk's security_content does, so
  exclusions never require editing our searches. The scope macro carries the app's id: the app exports
  its macros system-wide (so that the Search app and Enterprise Security can run the searches), and
  ESCU exports a macro named `cloudtrail` too; two apps defining one exported name means one silently
  decides what the other searches.
* Boolean grouping. The backend's search expression is rewritten with every AND/OR group in
  parentheses and AND written out (`splunk_grouping.group_search`): the backend relies on the search
  command's precedence (OR before AND), which `where` and `eval` do not share, so a search moved into
  `where`, or preceded by a macro, or followed by an appended filter, keeps its meaning.
* Exact values. Splunk's search command matches field values case-insensitively (so `|cased` needs a
  regular expression), and it has no way to match a literal `*` (a backslash cannot escape it,
  Search Manual, "Backslashes") and no single-character wildcard (the backend widens Sigma's `?` to `*`);
  control characters (newlines) would also have to be written into savedsearches.conf. Such values
  become an anchored, case-insensitive regular expression (`| regex field="(?is)^...(?!.)"`), which
  matches exactly the Sigma value. The backend's escaping still writes every character of the search.
* Correlations. `event_count` / `value_count` correlations over one rule become a sliding-window
  threshold search, `| sort 0 _time | streamstats time_window=<timespan> count as event_count by
  <group-by> | where event_count >= N`, instead of the backend's fixed `bin _time span=` buckets (which
  miss a burst that straddles a bucket boundary). Oldest first, each event counts the events of its group
  in the timespan up to it, so the alert's first result is the event that reached the threshold.
* Refusals (SigmaFeatureNotSupportedByBackendError, so a release leaves the rule out of the Splunk app),
  each with the reason: regular expressions and field references under OR or NOT (the
  backend 2.1.0 writes a broken `| search OR ...` for a regex under OR, and `regex field!=` has no
  documented meaning for events without the field), keyword (unbound) values, other correlation types,
  and output formats other than `default` (the Splunk app is written by
  `cloudtrail_pack.artifacts.splunk.write_splunk_app`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import QueryPostprocessingTransformation
from sigma.processing.transformations.base import PreprocessingTransformation, StringValueTransformation
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaCasedString,
    SigmaFieldReference,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from .common import cloudtrail_rules_only, reject_unknown_fields
from .schema import is_cloudtrail_field
from .splunk_grouping import group_search

TARGET = "splunk_cloudtrail"

#: The scope macro every search starts with, and its shipped definition (edit it in macros.conf). Named
#: in the app's namespace (app id + the data source), not ESCU's exported `cloudtrail`.
SCOPE_MACRO = "cloudtrail_detection_pack_cloudtrail"
SCOPE_DEFINITION = "(index=aws sourcetype=aws:cloudtrail)"
#: The shipped definition of every tuning macro: keep all results.
FILTER_DEFINITION = "search *"

#: Field names written bare in SPL (by-clauses, table): letters, digits, `_` and dotted paths.
SPL_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_SLUG = re.compile(r"[A-Za-z0-9_]+")


def rule_slug(rule: SigmaRule | SigmaCorrelationRule) -> str:
    """The rule's name (else its file's stem) with `-` as `_`; names its tuning macro `<slug>_filter`.

    The same spelling as `cloudtrail_pack.pack.PackRule.slug`, computed from the rule alone so that
    `sigma convert -p splunk_cloudtrail` writes the same searches as the app.
    """
    path = getattr(rule.source, "path", None) if rule.source else None
    base = rule.name or (PurePath(str(path)).stem if path else "")
    slug = base.replace("-", "_")
    if not _SLUG.fullmatch(slug):
        raise SigmaTransformationError(
            f"{TARGET}: the tuning macro is named after the rule's `name` (else its file name), "
            f"which must be letters, digits, '_' or '-'; got {base!r}. Give the rule a `name:`",
            source=rule.source,
        )
    return slug


def filter_macro(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return f"{rule_slug(rule)}_filter"


# --- exact values ------------------------------------------------------------------------------------


def _needs_regex(value: SigmaString) -> bool:
    """True if the search command cannot match `value` exactly as a quoted field value.

    A literal `*` (always a wildcard in search), Sigma's single-character wildcard (no search
    equivalent), control characters (a newline cannot be written into savedsearches.conf inside a
    value) and backticks (macro delimiters in SPL).
    """
    for part in value.s:
        if part == SpecialChars.WILDCARD_SINGLE:
            return True
        if isinstance(part, str) and any(
            c in "*`" or unicodedata.category(c) == "Cc" for c in part
        ):
            return True
    return False


def _regex_char(c: str) -> str:
    """One literal character as PCRE (and Python `re`) syntax, without raw control characters."""
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    if unicodedata.category(c) == "Cc" or c == "`":  # all Cc code points are < 0x100
        return f"\\x{ord(c):02x}"  # no raw control character in the conf file, no backtick (macro syntax)
    if c.isascii():
        return "\\" + c  # a backslash before a non-alphanumeric ASCII character is that character
    return c


def exact_regex(value: SigmaString) -> SigmaRegularExpression:
    """The anchored regular expression matching exactly what `value` matches in Sigma.

    `(?is)^...(?!.)`: case-insensitive like Sigma's plain strings (`(?s)` only for a `|cased` value);
    `s` lets Sigma's wildcards (`.*`, `.`) match newlines too; `(?!.)` anchors at the very end (`$`
    would also accept a final newline).
    """
    body = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            body.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            body.append(".")
        elif isinstance(part, str):
            body.append("".join(_regex_char(c) for c in part))
        else:
            raise SigmaTransformationError(f"{TARGET}: cannot write placeholder {part!r} as a regular expression")
    flags = {SigmaRegularExpressionFlag.DOTALL}
    if not isinstance(value, SigmaCasedString):
        flags.add(SigmaRegularExpressionFlag.IGNORECASE)
    return SigmaRegularExpression("^" + "".join(body) + "(?!.)", flags)


@dataclass
class ExactValuesTransformation(StringValueTransformation):
    """Replace values the search command cannot match exactly by their exact regular expression; a
    `|cased` value too, since search terms always match case-insensitively."""

    def apply_string_value(self, field, val: SigmaString):  # type: ignore[override]
        if field is not None and (isinstance(val, SigmaCasedString) or _needs_regex(val)):
            return exact_regex(val)
        return None


# --- conditions the backend cannot write correctly ------------------------------------------------------


@dataclass
class CheckConditionsTransformation(PreprocessingTransformation):
    """Refuse what the backend would write wrongly or with undocumented Splunk semantics; also check the
    `fields:` list, which becomes `| table`."""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        for condition in rule.detection.parsed_condition:
            self._walk(rule, condition.parsed, under_or=False, under_not=False)
        bad = [f for f in rule.fields if not (SPL_FIELD.fullmatch(f) and is_cloudtrail_field(f))]
        if bad:
            raise SigmaTransformationError(
                f"{TARGET}: `fields:` names {', '.join(bad)}, not CloudTrail fields that SPL's `table` can "
                "name; list CloudTrail field paths such as userIdentity.arn",
                source=rule.source,
            )

    def _walk(self, rule: SigmaRule, node, under_or: bool, under_not: bool) -> None:
        if isinstance(node, ConditionOR):
            for arg in node.args:
                self._walk(rule, arg, True, under_not)
        elif isinstance(node, ConditionAND):
            for arg in node.args:
                self._walk(rule, arg, under_or, under_not)
        elif isinstance(node, ConditionNOT):
            for arg in node.args:
                self._walk(rule, arg, under_or, True)
        elif isinstance(node, ConditionValueExpression):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{TARGET}: keyword (field-less) values are not supported: Splunk matches them as indexed "
                "terms of the raw JSON, not as Sigma's substring of any field; match a named field instead",
                source=rule.source,
            )
        elif isinstance(node, ConditionFieldEqualsValueExpression):
            value = node.value
            if not isinstance(value, (SigmaRegularExpression, SigmaFieldReference)) or not (under_or or under_not):
                return
            if isinstance(value, SigmaFieldReference):
                what = "a field reference (a `| where` command)"
            else:
                what = (
                    "a regular expression, or a value Splunk's search command cannot match exactly (a literal "
                    "'*', Sigma's '?' wildcard, a control character or a backtick), which becomes one "
                    "(a `| regex` command)"
                )
            if under_or:
                why = (
                    "under OR (a value list, `or`, `1 of`): pysigma-backend-splunk 2.1.0 writes such a "
                    "command under OR as a broken `| search OR ...`"
                )
            else:
                why = "under NOT: Splunk does not document `regex field!=` / `where NOT` for events without the field"
            raise SigmaFeatureNotSupportedByBackendError(
                f"{TARGET}: field {node.field}: {what} {why}. Put the value in its own selection joined with `and`",
                source=rule.source,
            )


# --- the final search ---------------------------------------------------------------------------------

_OPERATORS = {SigmaCorrelationConditionOperator.GTE: ">=", SigmaCorrelationConditionOperator.GT: ">"}
_SPAN_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def time_window(seconds: int) -> str:
    """A streamstats `time_window` span (`<int><s|m|h|d>`) for a timespan in seconds."""
    for size, unit in _SPAN_UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable")


def _spl_field(name: str, rule, what: str) -> str:
    if not (SPL_FIELD.fullmatch(name) and is_cloudtrail_field(name)):
        raise SigmaTransformationError(
            f"{TARGET}: {what} {name!r} is not a CloudTrail field SPL can name bare", source=rule.source
        )
    return name


def threshold_search(rule: SigmaCorrelationRule) -> str:
    """The sliding-window threshold search of an event_count / value_count correlation over one rule."""
    if rule.type not in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
        raise SigmaFeatureNotSupportedByBackendError(
            f"{TARGET}: correlation type {rule.type.name.lower()} is not supported (event_count and "
            "value_count are)",
            source=rule.source,
        )
    if len(rule.rules or []) != 1 or len(rule.aliases) > 0:
        raise SigmaFeatureNotSupportedByBackendError(
            f"{TARGET}: a correlation must count the events of exactly one rule, without aliases",
            source=rule.source,
        )
    searches = rule.rules[0].rule.get_conversion_result()
    if len(searches) != 1 or not isinstance(searches[0], str):
        raise SigmaFeatureNotSupportedByBackendError(
            f"{TARGET}: the correlated rule must convert to exactly one search", source=rule.source
        )
    condition = rule.condition
    op = _OPERATORS.get(getattr(condition, "op", None))
    if op is None:
        raise SigmaFeatureNotSupportedByBackendError(
            f"{TARGET}: only gte/gt thresholds are supported: over a sliding window, 'fewer than N' holds "
            "for almost every event",
            source=rule.source,
        )
    unit = rule.timespan.unit
    if unit in ("M", "y"):
        raise SigmaFeatureNotSupportedByBackendError(
            f"{TARGET}: timespan {rule.timespan.spec} has no fixed length; use s, m, h, d or w",
            source=rule.source,
        )
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        aggregate, name = "count", "event_count"
    else:
        ref = condition.fieldref
        if isinstance(ref, list):
            if len(ref) != 1:
                raise SigmaFeatureNotSupportedByBackendError(
                    f"{TARGET}: value_count counts one field", source=rule.source
                )
            ref = ref[0]
        aggregate, name = f"dc({_spl_field(ref, rule, 'value_count field')})", "value_count"
    group_by = [_spl_field(f, rule, "group-by field") for f in (rule.group_by or [])]
    by = f" by {' '.join(group_by)}" if group_by else ""
    return (
        f"{searches[0]}\n"
        "| sort 0 _time\n"
        f"| streamstats time_window={time_window(rule.timespan.seconds)} {aggregate} as {name}{by}\n"
        f"| where {name} {op} {condition.count}"
    )


@dataclass
class SplunkSearchTransformation(QueryPostprocessingTransformation):
    """`<scope>` <grouped query> ... | `<slug>_filter`; correlations rebuilt as sliding-window searches."""

    def apply(self, rule, query):  # type: ignore[override]
        super().apply(rule, query)
        output_format = (self._pipeline.vars if self._pipeline else {}).get("output_format", "default")
        if output_format != "default":
            raise SigmaFeatureNotSupportedByBackendError(
                f"{TARGET} writes plain searches (output format `default`); the Splunk app with "
                f"savedsearches.conf and macros.conf is built by the pack's Splunk artifact writer, "
                f"not by output format {output_format!r}",
                source=rule.source,
            )
        if isinstance(rule, SigmaCorrelationRule):
            query = threshold_search(rule)
        elif isinstance(rule, SigmaRule) and rule.fields:
            table = " | table " + ",".join(rule.fields)  # what finalize_query_default appended
            if query.endswith(table):
                query = query[: -len(table)] + "\n" + table[1:]
        query = group_search(query)
        return f"`{SCOPE_MACRO}` {query}\n| `{filter_macro(rule)}`"


def splunk_cloudtrail_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="CloudTrail for splunk",
        priority=20,
        allowed_backends=frozenset({"splunk"}),  # sigma-cli refuses it with any other target (-t)
        items=[
            cloudtrail_rules_only(TARGET),
            reject_unknown_fields(TARGET),
            ProcessingItem(identifier=f"{TARGET}_exact_values", transformation=ExactValuesTransformation()),
            ProcessingItem(identifier=f"{TARGET}_check_conditions", transformation=CheckConditionsTransformation()),
        ],
        postprocessing_items=[
            QueryPostprocessingItem(identifier=f"{TARGET}_search", transformation=SplunkSearchTransformation()),
        ],
    )
