"""A Sigma condition as an EventBridge event pattern over the CloudTrail record (the event's `detail`).

EventBridge's matching, as documented (Content filtering in Amazon EventBridge event patterns,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html, and
Event Ruler, the library EventBridge matches with, https://github.com/aws/event-ruler README):

* An object ANDs its fields; a field's array ORs its matchers; `$or` (2 or more objects) ORs sub-patterns and may
  nest. A field's matchers: a JSON value (exact, case-sensitive; `null` matches a JSON null, never a missing
  field), `equals-ignore-case`, `prefix` and `suffix` (each also with `equals-ignore-case`), `wildcard` (`*`,
  case-sensitive, no case-insensitive form), `anything-but` (a string or number, a list of them, or
  `equals-ignore-case`, `prefix`, `suffix`, `wildcard`), `exists`, `numeric`, `cidr`. Matching works on leaf values:
  an array in the event matches if any element does.
* `anything-but` and every value matcher need the field: a missing field matches only `{"exists": false}`.

Sigma's meaning, and how it is kept (the reference engine, pySigma's SQLite backend, is the judge):

* Strings compare case-insensitively: `equals-ignore-case`, and `prefix`/`suffix` with it. A value without
  letters, or one the pipeline marked case-sensitive (`|cased`, or the canonical-case fields of the CloudTrail
  schema), is compared exactly. `contains` and inner wildcards need `wildcard`, which is case-sensitive: refused
  for a value with letters unless it is case-sensitive already. `?` has no EventBridge form: refused.
* `not` is Sigma's: true where the field is missing or null. Negations are pushed down to the comparisons (De
  Morgan); a negated comparison becomes `$or: [{f: [{"anything-but": ...}, null]}, {f: [{"exists": false}]}]`.
  `anything-but` has no case-insensitive prefix, suffix or wildcard form, takes no booleans, and has no CIDR or
  numeric-range form: those negations are refused. Negations of one field ANDed together merge into one
  `anything-but` list (`not (a or b)`).
* `null` (and `exists: false`) is a missing field or a JSON null: `$or` of `[null]` and `{"exists": false}`
  (`{"exists": false}` always stands alone in its field's list, the form Event Ruler documents).
  `exists: true` (and `not null`) is `{"exists": true}`, which Event Ruler applies to "the presence or absence
  of a field": a field holding JSON null counts as present there, absent in Sigma. CloudTrail leaves a field out
  rather than writing a null leaf (errorCode appears only for failed calls); the difference is documented and
  tested.
* Numbers compare as JSON numbers (`numeric`), within Event Ruler's range; booleans match JSON booleans and, as
  the reference reads them, the strings "true"/"false" in any case and the numbers 1/0.
* A pattern names a field once per object, and Event Ruler's treatment of one field constrained twice in one
  alternative (outside and inside an `$or`) is not documented: such a rule is refused, as is a field path through
  an array element (`x.0.y`: patterns cannot address positions) or through `$or`.
* Regular expressions, field references, keywords and timestamp parts have no EventBridge form: refused.

The pattern is JSON written compactly (what PutRule receives), within the limits of `limits.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from math import prod
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from . import envelope
from .limits import (
    EVENT_PATTERN_MAX_LENGTH,
    NUMERIC_MAX_ABS,
    NUMERIC_MAX_DECIMALS,
    OR_COMBINATIONS_MAX,
    OR_MIN_ALTERNATIVES,
)

Path = tuple[str, ...]
_COMPARE = {CompareOperators.LT: "<", CompareOperators.LTE: "<=", CompareOperators.GT: ">", CompareOperators.GTE: ">="}
_OR = "$or"


class EventPatternError(SigmaFeatureNotSupportedByBackendError):
    """A rule that an EventBridge event pattern cannot express as Sigma means it."""


def refuse(reason: str, cond: Any = None) -> EventPatternError:
    return EventPatternError(reason, source=getattr(cond, "source", None))


@dataclass
class Neg:
    """`not (field matches any of values)`: one `anything-but` (kind: exact, ignore-case, number, prefix, suffix,
    wildcard), true also where the field is missing or null."""

    kind: str
    values: tuple

    def matcher(self) -> dict:
        value: Any = self.values[0] if len(self.values) == 1 else list(self.values)
        if self.kind in ("exact", "number"):
            return {"anything-but": value}
        return {"anything-but": {"equals-ignore-case" if self.kind == "ignore-case" else self.kind: value}}


@dataclass
class Conj:
    """An AND: fields (each an OR of matchers), negations, and OR groups of sub-patterns."""

    fields: dict[Path, list] = field(default_factory=dict)
    negs: dict[Path, Neg] = field(default_factory=dict)
    ors: list[list[Conj]] = field(default_factory=list)

    def groups(self) -> list[list[Conj]]:
        """The OR groups, each negation written out as its two alternatives."""
        written = [[Conj({p: [n.matcher(), None]}), Conj({p: [{"exists": False}]})] for p, n in self.negs.items()]
        return self.ors + written


# ---- building ------------------------------------------------------------------------------------------------


def conj_and(parts: list[Conj], cond: Any = None) -> Conj:
    out = Conj()
    for part in parts:
        for path, matchers in part.fields.items():
            if path in out.fields or path in out.negs:
                raise _same_field(path, cond)
            out.fields[path] = list(matchers)
        for path, neg in part.negs.items():
            if path in out.fields:
                raise _same_field(path, cond)
            out.negs[path] = _merge_negs(out.negs[path], neg, path, cond) if path in out.negs else neg
        out.ors.extend(part.ors)
    return out


def conj_or(parts: list[Conj]) -> Conj:
    alternatives: list[Conj] = []
    for part in parts:
        if not part.fields and not part.negs and len(part.ors) == 1:
            alternatives.extend(part.ors[0])  # OR is associative
        else:
            alternatives.append(part)
    single = [next(iter(a.fields)) if len(a.fields) == 1 and not a.negs and not a.ors else None for a in alternatives]
    if single[0] is not None and all(p == single[0] for p in single):
        merged: list = []
        for a in alternatives:
            merged += [m for m in a.fields[single[0]] if _key(m) not in map(_key, merged)]
        absent = {"exists": False}
        if absent in merged and len(merged) > 1:
            # Event Ruler documents `exists: false` alone in a field's list; it stays an alternative of its own
            return Conj(ors=[[Conj({single[0]: [m for m in merged if m != absent]}), Conj({single[0]: [absent]})]])
        return Conj({single[0]: merged})
    return alternatives[0] if len(alternatives) == 1 else Conj(ors=[alternatives])


def _key(matcher: Any) -> Any:
    """Matchers that match the same values compare equal (equals-ignore-case of two spellings of one word)."""
    if isinstance(matcher, dict) and isinstance(matcher.get("equals-ignore-case"), str) and len(matcher) == 1:
        return ("equals-ignore-case", matcher["equals-ignore-case"].lower())
    return json.dumps(matcher, sort_keys=True)


def _same_field(path: Path, cond: Any) -> EventPatternError:
    return refuse(
        f"two conditions on {'.'.join(path)} must hold together; a pattern gives each field one list of "
        "alternatives (an object names a field once)",
        cond,
    )


def _merge_negs(a: Neg, b: Neg, path: Path, cond: Any) -> Neg:
    if a.kind == b.kind and a.kind in ("exact", "ignore-case", "number"):
        return Neg(a.kind, a.values + tuple(v for v in b.values if v not in a.values))
    raise refuse(
        f"two negated conditions on {'.'.join(path)} ({a.kind}, {b.kind}) cannot share one anything-but, and a "
        "pattern names a field once per object",
        cond,
    )


# ---- from Sigma ----------------------------------------------------------------------------------------------


def convert(cond: Any, negated: bool = False, relax: bool = False) -> Conj:
    """The pattern (of `detail`) for a parsed Sigma condition, negations pushed down to the comparisons.

    `relax`: a pattern that lets through at least every matching event (the prefilter of a state machine that
    decides exactly, `jsonata.py`): what a pattern cannot express becomes "anything" (the empty AND). Negations
    being pushed down to the comparisons first, every AND and OR above them is monotone, so widening any part
    widens the whole."""
    if not relax:
        return _convert(cond, negated, False)
    try:
        return _convert(cond, negated, True)
    except EventPatternError:
        return Conj()


def _convert(cond: Any, negated: bool, relax: bool) -> Conj:
    if isinstance(cond, ConditionNOT):
        return convert(cond.args[0], not negated, relax)
    if isinstance(cond, (ConditionAND, ConditionOR)):
        parts = [convert(arg, negated, relax) for arg in cond.args]
        if isinstance(cond, ConditionAND) != negated:
            return conj_and(parts, cond)
        if relax and any(_anything(p) for p in parts):
            return Conj()
        return conj_or(parts)
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        if isinstance(cond.value, SigmaExpansion):
            alternatives = [ConditionFieldEqualsValueExpression(cond.field, v) for v in cond.value.values]
            for a in alternatives:
                a.parent = cond
            return convert(ConditionOR(alternatives, cond.source), negated, relax)
        return leaf(field_path(cond.field, cond), cond.value, negated, cond)
    if isinstance(cond, ConditionValueExpression):
        raise refuse(f"keywords ({str(cond.value)!r}) cannot be expressed: a pattern matches named fields only", cond)
    raise refuse(f"condition element {type(cond).__name__} cannot be expressed", cond)


def _anything(conj: Conj) -> bool:
    return not conj.fields and not conj.negs and not conj.ors


def field_path(name: str, cond: Any = None) -> Path:
    parts = tuple(name.split("."))
    if any(not p for p in parts):
        raise refuse(f"field name {name!r} has an empty part", cond)
    if any(p.isdigit() for p in parts):
        raise refuse(
            f"{name} names an array element by its position; a pattern cannot (EventBridge matches a field against "
            "every element of an array)",
            cond,
        )
    if _OR in parts:
        raise refuse(f"field name {name!r}: '$or' is EventBridge's OR keyword", cond)
    return parts


def has_case(text: str) -> bool:
    """True if some character of `text` has another letter case (so a case-insensitive match is not exact)."""
    return any(c.lower() != c or c.upper() != c for c in text)


def _positive(path: Path, matchers: list) -> Conj:
    return Conj({path: matchers})


def _null(path: Path) -> Conj:
    return Conj(ors=[[_positive(path, [None]), _positive(path, [{"exists": False}])]])


def leaf(path: Path, value: Any, negated: bool, cond: Any) -> Conj:
    name = ".".join(path)
    if isinstance(value, SigmaString):
        return _string(path, value, negated, cond)
    if isinstance(value, (SigmaNull, SigmaExists)):
        present = isinstance(value, SigmaExists) and bool(value)
        if present != negated:
            return _positive(path, [{"exists": True}])
        return _null(path)
    if isinstance(value, SigmaBool):
        if negated:
            raise refuse(f"negated boolean ({name}): anything-but takes strings or numbers only", cond)
        text = "true" if value.boolean else "false"
        return _positive(path, [value.boolean, {"equals-ignore-case": text}, {"numeric": ["=", int(value.boolean)]}])
    if isinstance(value, SigmaNumber):
        number = _number(value.number, name, cond)
        if negated:
            return Conj(negs={path: Neg("number", (number,))})
        return _positive(path, [{"numeric": ["=", number]}])
    if isinstance(value, SigmaCompareExpression):
        if negated:
            raise refuse(f"a negated numeric comparison on {name} has no anything-but form", cond)
        return _positive(path, [{"numeric": [_COMPARE[value.op], _number(value.number.number, name, cond)]}])
    if isinstance(value, SigmaCIDRExpression):
        if negated:
            raise refuse(f"a negated CIDR match ({name}|cidr) has no anything-but form", cond)
        return _positive(path, [{"cidr": str(value.network)}])
    if isinstance(value, SigmaRegularExpression):
        raise refuse(f"regular expressions ({name}|re) have no event pattern matcher", cond)
    if isinstance(value, SigmaFieldReference):
        raise refuse(f"field references ({name}|fieldref) cannot be expressed: a pattern compares with constants", cond)
    if isinstance(value, SigmaTimestampPart):
        raise refuse(f"timestamp parts ({name}) cannot be expressed", cond)
    raise refuse(f"values of type {type(value).__name__} ({name}) cannot be expressed", cond)


def _number(number: Any, name: str, cond: Any) -> int | float:
    if abs(number) > NUMERIC_MAX_ABS:
        raise refuse(f"{name}: {number} is outside the numeric matching range of -5.0e9 to +5.0e9", cond)
    exponent = Decimal(str(number)).as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMERIC_MAX_DECIMALS:
        raise refuse(f"{name}: {number} has more than {NUMERIC_MAX_DECIMALS} digits after the decimal point", cond)
    return number


def _wildcard_text(parts: list) -> str:
    """A Sigma value as an EventBridge `wildcard`: `*` for Sigma's wildcard (runs collapsed: consecutive
    wildcards are not allowed and mean the same), `\\*` and `\\\\` for literal asterisks and backslashes."""
    out: list[str] = []
    for part in parts:
        if part == SpecialChars.WILDCARD_MULTI:
            if not out or out[-1] != "*":
                out.append("*")
        else:
            out.append(part.replace("\\", "\\\\").replace("*", "\\*"))
    return "".join(out)


def _string(path: Path, value: SigmaString, negated: bool, cond: Any) -> Conj:
    name = ".".join(path)
    if value.contains_placeholder():
        raise refuse(f"{name}: unresolved placeholder in {str(value)!r}", cond)
    parts = list(value.s)
    if SpecialChars.WILDCARD_SINGLE in parts:
        raise refuse(f"{name}: the single-character wildcard '?' has no event pattern form", cond)
    text = "".join(p for p in parts if isinstance(p, str))
    exact = isinstance(value, SigmaCasedString) or not has_case(text)
    if parts and all(p == SpecialChars.WILDCARD_MULTI for p in parts):  # any value
        return _null(path) if negated else _positive(path, [{"exists": True}])
    lead = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
    trail = bool(parts) and parts[-1] == SpecialChars.WILDCARD_MULTI
    inner = parts[int(lead) : len(parts) - int(trail)]
    plain = all(isinstance(p, str) for p in inner)
    if plain and not lead and not trail:
        if negated:
            return Conj(negs={path: Neg("exact" if exact else "ignore-case", (text,))})
        return _positive(path, [text if exact else {"equals-ignore-case": text}])
    if plain and lead != trail:
        kind = "prefix" if trail else "suffix"
        if negated:
            if not exact:
                raise refuse(
                    f"{name}: not {'startswith' if trail else 'endswith'} {text!r} compares case-insensitively; "
                    f"anything-but has {kind} and equals-ignore-case, not both",
                    cond,
                )
            return Conj(negs={path: Neg(kind, (text,))})
        return _positive(path, [{kind: text if exact else {"equals-ignore-case": text}}])
    if not exact:
        raise refuse(
            f"{name}: {str(value)!r} needs a wildcard match, which EventBridge makes case-sensitively only, "
            "while Sigma compares case-insensitively (use |cased if the letter case is known)",
            cond,
        )
    pattern = _wildcard_text(parts)
    if negated:
        return Conj(negs={path: Neg("wildcard", (pattern,))})
    return _positive(path, [{"wildcard": pattern}])


# ---- checking and writing ------------------------------------------------------------------------------------


def combinations(conj: Conj) -> int:
    """How many alternatives the pattern expands to (the product, over its OR groups, of their sums)."""
    return prod(sum(combinations(a) for a in group) for group in conj.groups())


def _branch_paths(conj: Conj) -> list[list[Path]]:
    base = [list(conj.fields)]
    for group in conj.groups():
        base = [b + extra for b in base for alt in group for extra in _branch_paths(alt)]
    return base


def check(conj: Conj) -> None:
    count = combinations(conj)
    if count > OR_COMBINATIONS_MAX:
        raise refuse(f"the pattern expands to {count} $or combinations; EventBridge allows {OR_COMBINATIONS_MAX}")
    for paths in _branch_paths(conj):
        seen: set[Path] = set()
        for p in paths:
            if p in seen:
                raise _same_field(p, None)
            seen.add(p)
        for p in seen:
            for q in seen:
                if q != p and q[: len(p)] == p:
                    raise refuse(f"{'.'.join(p)} and {'.'.join(q)}: a pattern cannot match a field and a field beneath it")


def render(conj: Conj) -> dict:
    """The nested JSON object of an AND. Only one `$or` fits in an object: further OR groups are carried into
    each alternative of the first (distribution, bounded by `combinations`)."""
    obj: dict = {}
    for path, matchers in conj.fields.items():
        node = obj
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = matchers
    groups = conj.groups()
    if groups:
        first, rest = groups[0], groups[1:]
        if len(first) < OR_MIN_ALTERNATIVES:  # Event Ruler would read it as a field named $or
            raise refuse(f"an $or needs {OR_MIN_ALTERNATIVES} or more alternatives")
        obj[_OR] = [render(conj_and([alt, Conj(ors=rest)])) for alt in first]
    return obj


def required(detail: dict, key: str) -> set[str] | None:
    """The values (lower-cased) a top-level field of `detail` must have in every alternative, from its exact and
    equals-ignore-case matchers; None where some alternative leaves the field open."""
    matchers = detail.get(key)
    if isinstance(matchers, list):
        values = [m if isinstance(m, str) else m.get("equals-ignore-case") if isinstance(m, dict) else None for m in matchers]
        if values and all(isinstance(v, str) for v in values):
            return {v.lower() for v in values}
    alternatives = detail.get(_OR)
    if isinstance(alternatives, list):
        sets = [required(alt, key) for alt in alternatives]
        if all(s is not None for s in sets):
            return set().union(*sets)
    return None


@dataclass(frozen=True)
class EventPattern:
    """A compiled rule's pattern, and what deploying it depends on: the event sources and event names every
    matching event has (None: open), hence the rule state and the Regions where its events arrive."""

    pattern: dict

    @classmethod
    def parse(cls, text: str) -> EventPattern:
        return cls(json.loads(text))

    def text(self) -> str:
        return dumps(self.pattern)

    @property
    def event_sources(self) -> set[str] | None:
        return required(self.pattern["detail"], "eventSource")

    @property
    def event_names(self) -> set[str] | None:
        return required(self.pattern["detail"], "eventName")

    @property
    def state(self) -> str:
        return envelope.rule_state(self.event_names)

    @property
    def regions(self) -> str:
        return envelope.regions(self.event_sources)


def event_pattern(conj: Conj, max_length: int = EVENT_PATTERN_MAX_LENGTH) -> EventPattern:
    """The whole pattern: source, detail-type and detail, checked against EventBridge's limits."""
    check(conj)
    detail = render(conj)
    types = required(detail, "eventType")
    known_types = {t.lower(): t for t in envelope.DETAIL_TYPES}
    result = EventPattern(
        {
            "source": envelope.source_values(required(detail, "eventSource")),
            "detail-type": envelope.detail_type_values(
                {known_types.get(t, t) for t in types} if types is not None else None
            ),
            "detail": detail,
        }
    )
    length = len(result.text())
    if length > max_length:
        raise refuse(f"the pattern is {length} characters; EventBridge accepts at most {max_length} (event pattern size)")
    return result


def widened_event_pattern(conj: Conj, max_length: int = EVENT_PATTERN_MAX_LENGTH) -> EventPattern:
    """The whole pattern of a relaxed conversion (`convert(..., relax=True)`), within EventBridge's limits: while a
    branch names a field twice, or the pattern is over a limit, one ANDed part is dropped (a negation, then an OR
    group, then a field), each drop widening the pattern, so that it still lets through every matching event."""
    conj = Conj(dict(conj.fields), dict(conj.negs), list(conj.ors))
    while True:
        try:
            return event_pattern(conj, max_length)
        except EventPatternError:
            if conj.negs:
                conj.negs.pop(next(reversed(conj.negs)))
            elif conj.ors:
                conj.ors.pop()
            elif conj.fields:
                conj.fields.pop(next(reversed(conj.fields)))
            else:
                raise


def dumps(pattern: dict) -> str:
    """The pattern as PutRule receives it: compact JSON, keys in the order written."""
    return json.dumps(pattern, ensure_ascii=False, separators=(",", ":"))
