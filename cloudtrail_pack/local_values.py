"""Local values: names a detection engineer adds to a rule's list without editing the rule (their own
administration or break-glass roles beside the organization's access roles), at build time, in every target.

A Sigma filter can only narrow a rule (pySigma joins its condition with `and`), so widening a list takes a
document of its own, kept in the same `--filters` folder and applied where the filters are (compilation, the
reference engine, hence `scan` and Spark): `values:` names the rules, and for a selection of each rule the field
and the values to add. The values join that selection's detection item as the item's own kind, so the rule keeps
the form every target was checked for: plain strings (Sigma wildcards kept) join a list of plain strings; a name
joins a single regular expression written `^(?:a|b|...)` (or `...)$`) as one more alternative, spelled as the
expression spells its own: escaped, each letter as `[Xx]` unless the expression ignores case, `*` as Sigma's
wildcard (`?`, which has no form EventBridge's state machine reads as Python does, is refused). The
organization-access-role rule's expression has neither flags nor `$`, which EventBridge's state
machine reads differently from Python: its names, and those added, match as prefixes in any letter case. The rule
as written, its logic hash and its locked version stay.

Loading is strict like the filters': a document that names no rule of the pack, a selection or field the rule
does not have, an item of another kind, or a value that is not a non-empty string stops with the file's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaDetectionItem
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString, SpecialChars

from .errors import PackError

#: The one regular expression form a name can join: alternatives anchored at the start (group 1), perhaps at the end.
_ALTERNATIVES = re.compile(r"\^\(\?:(.*)\)(\$?)", re.S)
#: What a regular expression escapes (the escapes JavaScript and Python read alike, eventbridge/jsonata.py).
_SPECIAL = set("\\^$.|?*+()[]{}/-")
_KEYS = {"title", "id", "status", "description", "references", "author", "date", "modified", "logsource", "values"}


@dataclass(frozen=True)
class SigmaValues:
    """One `values:` document: the rules it widens and, per selection and field, the values it adds."""

    title: str
    id: UUID
    rules: tuple[str, ...]
    additions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (selection, field, values)

    def names(self, rule) -> bool:
        return not isinstance(rule, SigmaCorrelationRule) and bool({str(rule.id), rule.name} & set(self.rules))

    def apply_on_rule(self, rule):
        """Add the values to the rule (a copy: the caller's), in place; rules it does not name are left alone."""
        if not self.names(rule):
            return rule
        for selection, field, values in self.additions:
            detection = rule.detection.detections.get(selection)
            if detection is None:
                raise ValueError(f"rule {rule.title!r} has no selection {selection!r}")
            _extend(_item(detection, field, selection, rule.title), values)
        return rule


def _item(detection, field: str, selection: str, title: str) -> SigmaDetectionItem:
    items = [i for i in detection.detection_items if isinstance(i, SigmaDetectionItem) and i.field == field]
    if len(items) != 1:
        raise ValueError(f"selection {selection!r} of rule {title!r} has {'no' if not items else 'more than one'} item on {field}")
    return items[0]


def _extend(item: SigmaDetectionItem, values: tuple[str, ...]) -> None:
    kinds = {type(v) for v in item.value}
    if kinds == {SigmaString} and not item.modifiers:
        item.value.extend(SigmaString(v) for v in values)
        return
    if kinds == {SigmaRegularExpression} and len(item.value) == 1:
        regex = item.value[0]
        found = _ALTERNATIVES.fullmatch(str(regex.regexp))
        if found:
            ignorecase = SigmaRegularExpressionFlag.IGNORECASE in regex.flags
            added = [_as_regex(v, ignorecase, bool(found.group(2))) for v in values]
            pattern = "^(?:" + "|".join([found.group(1), *added]) + ")" + found.group(2)
            item.value[0] = SigmaRegularExpression(pattern, set(regex.flags))
            return
    raise ValueError(
        f"the item on {item.field} is neither a list of plain strings nor one regular expression written ^(?:...)$, "
        "so values cannot be added to it"
    )


def _as_regex(value: str, ignorecase: bool, anchored: bool) -> str:
    """A value with Sigma's wildcards (`*`, `?`, `\\` escapes) as a regular expression of the same meaning, in any
    letter case; a trailing `*` is dropped where the expression has no end anchor (a prefix already)."""
    parts = list(SigmaString(value).s)
    while not anchored and parts and parts[-1] == SpecialChars.WILDCARD_MULTI:
        parts.pop()
    out = []
    for part in parts:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append("[^\\n]*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            raise ValueError(f"{value!r}: Sigma's ? wildcard has no regular expression form every target reads alike "
                             "(EventBridge's state machine counts UTF-16 units); spell the character out, or use *")
        else:
            out.extend(_char(c, ignorecase) for c in part)
    return "".join(out)


def _char(c: str, ignorecase: bool) -> str:
    if c.isascii() and c.isalpha() and not ignorecase:
        return f"[{c.upper()}{c.lower()}]"
    return "\\" + c if c in _SPECIAL else c


def parse_values(document: dict, where: Path) -> SigmaValues:
    """A `values:` document, checked for shape (not yet against the pack: `check_values`)."""
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise PackError(where, f"local values document: unknown key(s) {', '.join(unknown)}; a values document has {', '.join(sorted(_KEYS))}")
    title = document.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PackError(where, "local values document without a title; give it one (it names the values in the build's messages and manifest)")
    try:
        ident = UUID(str(document.get("id")))
    except ValueError:
        raise PackError(where, f"local values {title!r}: id {document.get('id')!r} is not a UUID; give it one (python -c 'import uuid; print(uuid.uuid4())')") from None
    logsource = document.get("logsource") or {}
    if not isinstance(logsource, dict) or (logsource.get("product"), logsource.get("service")) != ("aws", "cloudtrail"):
        raise PackError(where, f"local values {title!r}: logsource must be product aws, service cloudtrail (the pack's rules)")
    body = document.get("values")
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list) or not body["rules"]:
        raise PackError(where, f"local values {title!r}: `values:` must name the rules it widens (rules: [rule name or id, ...]) and a selection of each")
    rules = tuple(str(r) for r in body["rules"])
    additions = []
    for selection, fields in body.items():
        if selection == "rules":
            continue
        if not isinstance(fields, dict) or not fields:
            raise PackError(where, f"local values {title!r}: selection {selection!r} must map a field to the values to add")
        for field, values in fields.items():
            values = values if isinstance(values, list) else [values]
            if not values or any(not isinstance(v, str) or not v for v in values):
                raise PackError(where, f"local values {title!r}: {selection}.{field}: each value must be a non-empty string")
            additions.append((str(selection), str(field), tuple(values)))
    if not additions:
        raise PackError(where, f"local values {title!r}: `values:` adds nothing; give a selection of the rule, its field and the values")
    return SigmaValues(title.strip(), ident, rules, tuple(additions))


def check_values(values: SigmaValues, rules, where: Path, detached_copy) -> None:
    """Apply the values to a copy of each rule they name, so that a wrong selection, field or item kind is reported
    on the values file, not later on the rule."""
    named = [r for r in rules if values.names(r.rule)]
    missing = [ref for ref in values.rules if not any(ref in (r.id, r.rule.name) for r in named)]
    if missing:
        raise PackError(where, f"local values {values.title!r} name {', '.join(map(repr, missing))}, no detection rule of the pack (give a rule id or name)")
    for pack_rule in named:
        try:
            values.apply_on_rule(detached_copy(pack_rule.rule))
        except ValueError as e:
            raise PackError(where, f"local values {values.title!r}: {e}; name a selection and field the rule has") from e
