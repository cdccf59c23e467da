"""CloudTrail processing pipeline for the splunk target (pysigma-backend-splunk's `splunk` backend).

The searches run over CloudTrail as the Splunk Add-on for AWS indexes it: sourcetype `aws:cloudtrail`,
JSON events extracted at search time (KV_MODE=json), so every field is named by its JSON path with dots,
exactly as CloudTrail writes it (`userIdentity.arn`, `requestParameters.userName`): no field mapping.

What the pipeline adds to the backend, for the `default` output format (one SPL search per rule):

* Scope and tuning macros. Every search starts with the scope macro
  `` `cloudtrail_detection_pack_cloudtrail` `` (the SOC edits its definition, `(index=aws
  sourcetype=aws:cloudtrail)` by default, to its index and sourcetype) and ends in its own empty tuning
  macro `` `cloudtrail_detection_pack_<slug>_filter` `` (definition `search *`, in the same namespace as the
  scope macro), the way Splunk's security_content does, so
  exclusions never require editing our searches. The scope macro carries the app's id: the app exports
  its macros system-wide (so that the Search app and Enterprise Security can run the searches), and
  ESCU exports a macro named `cloudtrail` too; two apps defining one exported name means one silently
  decides what the other searches.
* Boolean grouping. The backend's search expression is rewritten with every AND/OR group in
  parentheses and AND written out (`splunk_grouping.group_search`): the backend relies on the search
  command's precedence (OR before AND), which `where` and `eval` do not share, so a search moved into
  `where`, or preceded by a macro, or followed by an appended filter, keeps its meaning. This is the
  pipeline's one rewrite of the backend's text, a documented compatibility exception: the grouping is set by
  the backend's class attributes (`and_token`, `precedence`), which no pipeline can change for `sigma convert
  -t splunk` (splunk_grouping.py says why, and what it reads).
* Exact values. Splunk's search command matches field values case-insensitively (so `|cased` needs a
  regular expression), and it has no way to match a literal `*` (a backslash cannot escape it,
  Search Manual, "Backslashes") and no single-character wildcard (the backend widens Sigma's `?` to `*`);
  control characters (newlines) would also have to be written into savedsearches.conf. Such values
  become an anchored, case-insensitive regular expression (`| regex field="(?is)^...(?!.)"`), which
  matches exactly the Sigma value. The backend's escaping still writes every character of the search.
* Correlations. `event_count` / `value_count` correlations become a sliding-window
  threshold search, `| sort 0 _time | streamstats time_window=<timespan> count as event_count by
  <group-by> | where event_count >= N`, instead of the backend's fixed `bin _time span=` buckets (which
  miss a burst that straddles a bucket boundary). Oldest first, each event counts the events of its group
  in the timespan up to it, so the alert's first result is the event that reached the threshold. A
  value_count counts `lower()`ed values per `lower()`ed group (Sigma compares case-insensitively, `dc()` and
  `by` do not). Over several rules the events come from a `| multisearch`, one subsearch per rule with
  the rule's own `| where` / `| regex`; an ordered temporal correlation of two steps tags each subsearch
  with its step and keeps, per group, the earliest step-1 time within the timespan
  (`ordered_search`, through the stand-in of `correlations.py`).
* Field references. The backend writes `fieldref` as `| where 'a'='b'`: case-sensitive (`where` compares
  strings case-sensitively, Search Reference "where"), refused under OR, and under NOT pulled out of its
  group (`not (type=IAMUser and a=b)` became `NOT type=IAMUser ... | where NOT 'a'='b'`) and null-unsafe
  (a comparison with a missing field is null, `NOT null` drops the event). Instead, every conjunct of the
  condition's top-level `and` that holds a field reference is taken out of the search expression and
  written by this pipeline as one `| where` clause (`fieldref_where`): each comparison null-safe
  (`isnotnull(...) AND ...`, so NOT of it is true for events without the field, as in Sigma),
  case-insensitive (`lower(...)==lower(...)` on both sides), whole values. The search expression keeps the
  other conjuncts, so the indexed search still narrows the events first.
* Refusals (SigmaFeatureNotSupportedByBackendError, so a release leaves the rule out of the Splunk app),
  each with the reason: regular expressions under OR or NOT (the backend 2.1.0 writes a broken
  `| search OR ...` for a regex under OR, and `regex field!=` has no documented meaning for events without
  the field), field references the `| where` clause cannot carry (outside a top-level conjunct, beside
  values other than plain strings, null and exists), keyword (unbound) values, other correlation types
  (temporal, ordered ones other than two steps, event_count over several rules, which multisearch would
  count twice for an event two rules match),
  and output formats other than `default` (the Splunk app is written by
  `cloudtrail_pack.artifacts.splunk.write_splunk_app`).
* Values the backend would write unsafely or cannot write (regular expressions with control characters or
  backticks, timestamp parts, unreplaced placeholders): `splunk_values.py`.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
    ConditionValueExpression,
    SigmaCondition,
)
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import QueryPostprocessingTransformation
from sigma.processing.transformations.base import PreprocessingTransformation, StringValueTransformation
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaCasedString,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from . import correlations, pysigma_compat
from .common import cloudtrail_rules_only, reject_unknown_fields
from .schema import is_cloudtrail_field
from .splunk_grouping import group_search
from .splunk_values import SplunkValueTransformation

TARGET = "splunk_cloudtrail"

#: The app's namespace for the macros it exports system-wide (its app id): ESCU exports `cloudtrail` and
#: `<detection>_filter` macros too, and two apps exporting one name means one silently decides for the other.
MACRO_PREFIX = "cloudtrail_detection_pack"
#: The scope macro every search starts with, and its shipped definition (edit it in macros.conf). Named
#: in the app's namespace (app id + the data source), not ESCU's exported `cloudtrail`.
SCOPE_MACRO = f"{MACRO_PREFIX}_cloudtrail"
SCOPE_DEFINITION = "(index=aws sourcetype=aws:cloudtrail)"
#: The shipped definition of every tuning macro: keep all results.
FILTER_DEFINITION = "search *"

#: Field names written bare in SPL (by-clauses, table): letters, digits, `_` and dotted paths.
SPL_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_SLUG = re.compile(r"[A-Za-z0-9_]+")


def scoped(search: str) -> bool:
    """True if every part of `search` that reads events starts with the scope macro: the search itself, or
    each subsearch of a correlation's leading `| multisearch`."""
    if search.startswith(f"`{SCOPE_MACRO}` "):
        return True
    lines = search.split("\n")
    if lines[0] != "| multisearch":
        return False
    subsearches = [line for line in lines[1:] if line.startswith("    [")]
    return len(subsearches) >= 2 and all(line.startswith(f"    [search `{SCOPE_MACRO}` ") for line in subsearches)


def rule_slug(rule: SigmaRule | SigmaCorrelationRule) -> str:
    """The rule's name (else its file's stem) with `-` as `_`; names its tuning macro (`filter_macro`).

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
    """`cloudtrail_detection_pack_<slug>_filter`: namespaced like the scope macro (issue 20)."""
    return f"{MACRO_PREFIX}_{rule_slug(rule)}_filter"


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

    def apply_value(self, field, val: SigmaType):  # type: ignore[override]
        """Also the strings a modifier expanded (|windash, |base64offset): alternatives, so a regex among them
        is under OR, which CheckConditionsTransformation refuses with the reason."""
        if isinstance(val, SigmaExpansion):
            val.values = [super(ExactValuesTransformation, self).apply_value(field, v) or v for v in val.values]
            if any(isinstance(v, SigmaRegularExpression) for v in val.values):
                raise _refuse(
                    None,
                    f"field {field}: a |cased value, or a value Splunk's search command cannot match exactly, among "
                    "the alternatives a modifier expands it into (|windash, |base64offset, ...): each needs a "
                    "`| regex` command, and pysigma-backend-splunk 2.1.0 writes such commands under OR as a broken "
                    "`| search OR ...`",
                )
            return val
        return super().apply_value(field, val)


# --- field references: an exact `| where` clause --------------------------------------------------------

@dataclass
class WhereSplitCondition(SigmaCondition):
    """The part of a rule's condition the search command runs, holding the conjuncts FieldRefWhereTransformation
    took out of it as one `| where` clause (`where`), which the search transformation appends (also to each
    subsearch of a correlation over the rule)."""

    where: str = ""


def split_where(rule) -> str:
    """The `| where` clause split off the rule's condition ("" if none)."""
    if not isinstance(rule, SigmaRule):
        return ""
    return " AND ".join(c.where for c in rule.detection.parsed_condition if isinstance(c, WhereSplitCondition) and c.where)


def _refuse(rule, reason: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {reason}", source=getattr(rule, "source", None))


def _has_fieldref(node) -> bool:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return isinstance(node.value, SigmaFieldReference)
    return any(_has_fieldref(arg) for arg in getattr(node, "args", []))


def _conjuncts(node) -> list:
    """The operands of the top-level `and` of an unresolved condition tree (nested `and`s flattened)."""
    if isinstance(node, ConditionAND):
        return [c for arg in node.args for c in _conjuncts(arg)]
    return [node]


def _condition_text(node) -> str:
    """An unresolved condition tree as Sigma condition syntax (identifiers and `1 of`/`all of` selectors)."""
    if isinstance(node, ConditionIdentifier):
        return node.identifier
    if isinstance(node, ConditionSelector):
        return f"{node.args[0]} of {node.args[1]}"
    if isinstance(node, ConditionNOT):
        return f"not ({_condition_text(node.args[0])})"
    joiner = " and " if isinstance(node, ConditionAND) else " or "
    return joiner.join(f"({_condition_text(arg)})" for arg in node.args)


def _spl_string(value: str, rule) -> str:
    """A double-quoted eval string: `\\` and `\"` are its escapes (Search Reference, "Quotes and escaping
    characters"); control characters and backticks (macro delimiters) have no safe spelling."""
    if any(unicodedata.category(c) == "Cc" or c == "`" for c in value):
        raise _refuse(rule, f"the value {value!r} holds a control character or a backtick, which a `| where` string cannot carry")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _where_field(name: str, rule) -> str:
    return "'" + _spl_field(name, rule, "field") + "'"


def where_expression(node, rule) -> str:
    """A resolved condition (fields, values) as a `where` expression that is never null: every comparison is
    guarded with isnotnull(), so AND/OR/NOT over it mean what Sigma means for events without the field."""
    if isinstance(node, (ConditionAND, ConditionOR)):
        joiner = " AND " if isinstance(node, ConditionAND) else " OR "
        return "(" + joiner.join(where_expression(arg, rule) for arg in node.args) + ")"
    if isinstance(node, ConditionNOT):
        return "NOT " + where_expression(node.args[0], rule)
    if isinstance(node, ConditionValueExpression):
        raise _refuse(rule, "a keyword (field-less) value beside a field reference cannot be written in `| where`")
    field = _where_field(node.field, rule)
    value = node.value
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise _refuse(rule, f"field {node.field}: a field reference with startswith/endswith/contains is not supported")
        other = _where_field(value.field, rule)
        return f"(isnotnull({field}) AND isnotnull({other}) AND lower({field})==lower({other}))"
    if isinstance(value, SigmaNull):
        return f"isnull({field})"
    if isinstance(value, SigmaExists):
        return f"isnotnull({field})" if bool(value) else f"isnull({field})"
    if isinstance(value, SigmaString) and all(isinstance(p, str) for p in value.s):
        # the characters themselves: str(value) would write a literal * or ? with Sigma's escape (\\*)
        text = _spl_string("".join(value.s), rule)
        if isinstance(value, SigmaCasedString):
            return f"(isnotnull({field}) AND {field}=={text})"
        return f"(isnotnull({field}) AND lower({field})==lower({text}))"
    raise _refuse(
        rule,
        f"field {node.field}: beside a field reference, only plain strings, null and exists can be written in "
        f"`| where`; put the {type(value).__name__} value in its own selection",
    )


@dataclass
class FieldRefWhereTransformation(PreprocessingTransformation):
    """Move every top-level conjunct holding a field reference from the condition into one exact `| where`
    clause (the rule's condition becomes a WhereSplitCondition holding it). See the module docstring."""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            return
        conditions = rule.detection.parsed_condition
        if not any(_has_fieldref(c.parsed) for c in conditions):
            return
        if len(conditions) != 1:
            raise _refuse(rule, "a field reference in a rule with several conditions is not supported")
        (condition,) = conditions
        keep, move = [], []
        for conjunct in _conjuncts(condition.parse(postprocess=False)):
            resolved = copy.deepcopy(conjunct).postprocess(rule.detection, None, condition.source)
            (move if _has_fieldref(resolved) else keep).append((conjunct, resolved))
        if not keep:
            raise _refuse(
                rule,
                "a field reference must sit in a conjunct of the condition's top-level `and`, beside at least one "
                "selection the search command can run (`| where` alone would read every event)",
            )
        where = " AND ".join(where_expression(resolved, rule) for _, resolved in move)
        text = " and ".join(f"({_condition_text(raw)})" for raw, _ in keep)
        rule.detection.condition = [text]
        rule.detection.parsed_condition = [WhereSplitCondition(text, rule.detection, condition.source, where=where)]


def with_where(query: str, rule) -> str:
    """The backend's search for `rule` with the rule's `| where` clause (if any) before its `| table`."""
    where = split_where(rule)
    if not where:
        return query
    table = " | table " + ",".join(rule.fields) if isinstance(rule, SigmaRule) and rule.fields else None
    if table and query.endswith(table):
        return query[: -len(table)] + f"\n| where {where}" + table
    return query + f"\n| where {where}"


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
            if isinstance(value, SigmaFieldReference):  # unreachable: FieldRefWhereTransformation moved them
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


def _refuse_correlation(rule, reason: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(f"{TARGET}: {reason}", source=rule.source)


def _timespan(rule: SigmaCorrelationRule) -> str:
    if rule.timespan.unit in ("M", "y"):
        raise _refuse_correlation(rule, f"timespan {rule.timespan.spec} has no fixed length; use s, m, h, d or w")
    return time_window(rule.timespan.seconds)


def _referenced_searches(rule: SigmaCorrelationRule) -> list[str]:
    """Each correlated rule's search: its search expression fully grouped, its `| where` / `| regex` kept."""
    if len(rule.aliases) > 0:
        raise _refuse_correlation(rule, "correlation field aliases are not supported")
    out = []
    for ref in rule.referenced_rules:
        searches = ref.rule.get_conversion_result()
        if len(searches) != 1 or not isinstance(searches[0], str):
            raise _refuse_correlation(rule, "each correlated rule must convert to exactly one search")
        out.append(group_search(with_where(searches[0], ref.rule)))
    return out


def _multisearch(rule: SigmaCorrelationRule, searches: list[str], tags: list[str]) -> str:
    """`| multisearch [search <scope> <rule 1> ...] [search ...]`: the events of every correlated rule, each
    subsearch with its own `| where` / `| regex` and `tags` (Search Reference, "multisearch": subsearches of
    streaming commands only, such as search, eval, where and regex, run over the same events)."""
    lines = ["| multisearch"]
    for search, tag in zip(searches, tags):
        body = f"`{SCOPE_MACRO}` {search}".replace("\n| ", " | ")
        if "\n" in body:
            raise _refuse_correlation(rule, "a correlated rule's search has a line break a subsearch cannot hold")
        lines.append(f"    [search {body}{tag}]")
    return "\n".join(lines)


def _lowered(rule: SigmaCorrelationRule, fields: list[tuple[str, str]]) -> str:
    """`| eval sigma_x=lower('field'), ...`: Sigma compares values case-insensitively, `dc()` and `by` do not."""
    return "| eval " + ", ".join(f"{name}=lower('{_spl_field(field, rule, 'field')}')" for name, field in fields)


def threshold_search(rule: SigmaCorrelationRule) -> str:
    """The sliding-window threshold search of an event_count / value_count correlation (without macros)."""
    searches = _referenced_searches(rule)
    if len(searches) > 1 and rule.type == SigmaCorrelationType.EVENT_COUNT:
        raise _refuse_correlation(
            rule,
            "event_count over several rules is not supported: an event two of the rules match would be counted "
            "once per rule (multisearch returns it from each subsearch), where Sigma counts it once",
        )
    condition = rule.condition
    op = _OPERATORS.get(getattr(condition, "op", None))
    if op is None:
        raise _refuse_correlation(
            rule, "only gte/gt thresholds are supported: over a sliding window, 'fewer than N' holds for almost every event"
        )
    window = _timespan(rule)
    group_by = [_spl_field(f, rule, "group-by field") for f in (rule.group_by or [])]
    source = _scoped(searches[0]) if len(searches) == 1 else _multisearch(rule, searches, [""] * len(searches))
    lines = [source, "| sort 0 _time"]
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        by = f" by {' '.join(group_by)}" if group_by else ""
        lines.append(f"| streamstats time_window={window} count as event_count{by}")
        name = "event_count"
    else:
        ref = condition.fieldref
        if isinstance(ref, list):
            if len(ref) != 1:
                raise _refuse_correlation(rule, "value_count counts one field")
            ref = ref[0]
        _spl_field(ref, rule, "value_count field")
        keys = [(f"sigma_group{i + 1}", f) for i, f in enumerate(group_by)]
        lines.append(_lowered(rule, [("sigma_value", ref), *keys]))
        by = f" by {' '.join(k for k, _ in keys)}" if keys else ""
        lines.append(f"| streamstats time_window={window} dc(sigma_value) as value_count{by}")
        name = "value_count"
    lines.append(f"| where {name} {op} {condition.count}")
    return "\n".join(lines)


def _scoped(search: str) -> str:
    return f"`{SCOPE_MACRO}` {search}"


# --- ordered temporal correlations ---------------------------------------------------------------------


def ordered_steps(rule: SigmaCorrelationRule) -> list[list[int]]:
    """The two steps of an ordered temporal correlation (correlations.ordered_steps), or the refusal."""
    try:
        return correlations.ordered_steps(rule)
    except correlations.NotTwoSteps as e:
        raise _refuse_correlation(
            rule,
            f"{e}: one streamstats pass can say 'an event of step 1 before an event of step 2 in the window', "
            "not a longer chain or a negation",
        ) from None


def ordered_search(rule: SigmaCorrelationRule, steps: list[list[int]]) -> str:
    """An event of step 2 with an event of step 1 of the same group before it or in the same second, at most the
    timespan earlier: the multisearch tags each event with its step (step 1 also with its time), then, oldest first
    and step 1 first within a second, streamstats keeps per group the earliest step-1 time within the timespan up to
    each event. CloudTrail's eventTime has whole seconds: a script removes the credentials and deletes the user
    within one, and IAM refuses DeleteUser while the user still has them (DeleteConflict), so the same second is
    in order."""
    searches = _referenced_searches(rule)
    window = _timespan(rule)
    tags = [
        " | eval sigma_step=1, sigma_step1_time=_time" if i in steps[0] else " | eval sigma_step=2"
        for i in range(len(searches))
    ]
    group_by = [_spl_field(f, rule, "group-by field") for f in (rule.group_by or [])]
    keys = [(f"sigma_group{i + 1}", f) for i, f in enumerate(group_by)]
    lines = [_multisearch(rule, searches, tags), "| sort 0 _time, sigma_step"]
    if keys:
        lines.append(_lowered(rule, keys))
    by = f" by {' '.join(k for k, _ in keys)}" if keys else ""
    lines.append(f"| streamstats time_window={window} min(sigma_step1_time) as sigma_step1_first{by}")
    lines.append("| where sigma_step==2 AND sigma_step1_first <= _time")
    return "\n".join(lines)


@dataclass
class OrderedTemporalStandInTransformation(PreprocessingTransformation):
    """The correlation types the search transformation writes: event_count, value_count, and ordered
    temporal ones through a stand-in (correlations.stand_in: the backend has no template for them and
    raises before postprocessing); other types are refused here, with the reason."""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        if not isinstance(rule, SigmaCorrelationRule):
            return
        if rule.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            ordered_steps(rule)  # refuses what cannot be written
            correlations.stand_in(rule)
        elif rule.type not in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
            raise _refuse_correlation(
                rule,
                f"correlation type {rule.type.name.lower()} is not supported (event_count, value_count and "
                "temporal_ordered are)",
            )


def correlation_search(rule: SigmaCorrelationRule, steps: list[list[int]] | None = None) -> str:
    """The complete search of a correlation (`steps`: of an ordered temporal one), scope macro included,
    tuning macro not."""
    if steps is not None:
        return ordered_search(rule, steps)
    return threshold_search(rule)


@dataclass
class SplunkSearchTransformation(QueryPostprocessingTransformation):
    """`<scope>` <grouped query> ... | `<filter macro>`; correlations rebuilt as sliding-window searches."""

    def apply(self, rule, query):  # type: ignore[override]
        super().apply(rule, query)
        steps = correlations.restore(rule) if isinstance(rule, SigmaCorrelationRule) else None
        output_format = pysigma_compat.output_format(self)
        if output_format != "default":
            raise SigmaFeatureNotSupportedByBackendError(
                f"{TARGET} writes plain searches (output format `default`); the Splunk app with "
                f"savedsearches.conf and macros.conf is built by the pack's Splunk artifact writer, "
                f"not by output format {output_format!r}",
                source=rule.source,
            )
        if isinstance(rule, SigmaCorrelationRule):
            return f"{correlation_search(rule, steps)}\n| `{filter_macro(rule)}`"
        if isinstance(rule, SigmaRule):
            query = with_where(query, rule)
            table = " | table " + ",".join(rule.fields)  # what finalize_query_default appended
            if rule.fields and query.endswith(table):
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
            ProcessingItem(identifier=f"{TARGET}_fieldref_where", transformation=FieldRefWhereTransformation()),
            ProcessingItem(identifier=f"{TARGET}_values", transformation=SplunkValueTransformation()),
            ProcessingItem(identifier=f"{TARGET}_exact_values", transformation=ExactValuesTransformation()),
            ProcessingItem(identifier=f"{TARGET}_check_conditions", transformation=CheckConditionsTransformation()),
            ProcessingItem(identifier=f"{TARGET}_correlation_types", transformation=OrderedTemporalStandInTransformation()),
        ],
        postprocessing_items=[
            QueryPostprocessingItem(identifier=f"{TARGET}_search", transformation=SplunkSearchTransformation()),
        ],
    )
