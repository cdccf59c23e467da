"""Sigma's `not` in languages with three-valued logic (EQL and ES|QL).

Sigma says a comparison on a field the event does not have is false, so `not (field: value)` holds for an
event without the field. Elasticsearch's EQL and ES|QL compare a missing (null) field to null, `not null`
is null, and a query keeps only rows whose condition is true: an event without the field is dropped
(ES|QL "Null values": "comparison ... with null results in null"; EQL: a `:`/`==` comparison with a null
field is null, see the Optional fields section of the EQL syntax reference). A rule such as `selection and
not filter` on an optional field would then miss every event that lacks the field: a query that
silently matches less than the rule means.

`NullSafeNegationTransformation` restores Sigma's meaning: each comparison of a detection referenced under a
`not` becomes
`field is not null and <comparison>` (a field reference: both fields not null), which is false, never
null, for an event without the field. `is not null` is itself two-valued, so the rewrite is exact. Lucene
needs nothing (`NOT field:value` matches documents without the field), nor do the other targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.conditions import ConditionAND, ConditionIdentifier, ConditionNOT, ConditionSelector
from sigma.modifiers import SigmaExistsModifier
from sigma.processing.transformations import PreprocessingTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaFieldReference, SigmaNull

from . import pysigma_compat


def _negated_detections(node, under_not: bool, detections, out: set[str]) -> None:
    """Names of the detections the condition references under a `not` (before they are expanded)."""
    if isinstance(node, ConditionNOT):
        under_not = True
    if under_not and isinstance(node, ConditionIdentifier):
        out.add(node.identifier)
    elif under_not and isinstance(node, ConditionSelector):
        out.update(ref.identifier for ref in node.resolve_referenced_detections(detections))
    for arg in getattr(node, "args", None) or []:
        if not isinstance(arg, str):
            _negated_detections(arg, under_not, detections, out)


def _null_safe(item: SigmaDetectionItem) -> SigmaDetection | None:
    """The item with `field is not null` (both fields for a field reference) before it, or None if the
    item is already two-valued (an `exists` test or a `null` comparison)."""
    if item.field is None or SigmaExistsModifier in item.modifiers:
        return None
    if any(isinstance(v, SigmaNull) for v in item.value):
        return None
    fields = [item.field] + [v.field for v in item.value if isinstance(v, SigmaFieldReference)]
    guards = [SigmaDetectionItem(f, [], [SigmaNull()], negated=True) for f in dict.fromkeys(fields)]
    return SigmaDetection([*guards, item], item_linking=ConditionAND)


@dataclass
class NullSafeNegationTransformation(PreprocessingTransformation):
    """For the backends named in `three_valued` (pySigma `Backend.name`, the pipeline's `backend` variable),
    make every comparison under `not` false, not null, for an event without the field (module docstring)."""

    three_valued: frozenset[str] = frozenset()

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        backend = pysigma_compat.backend_name(self)
        if backend not in self.three_valued or not isinstance(rule, SigmaRule):
            return
        detections = rule.detection
        names: set[str] = set()
        for condition in detections.parsed_condition:
            _negated_detections(condition.parse(postprocess=False), False, detections, names)
        # Every comparison of a detection referenced under `not` is guarded. Where the same detection is
        # also referenced without `not`, the guard changes nothing: there a null comparison drops the event
        # just as a false one does.
        for name in sorted(names):
            _rewrite(detections.detections[name])


def _rewrite(detection: SigmaDetection) -> None:
    for index, item in enumerate(detection.detection_items):
        if isinstance(item, SigmaDetection):
            _rewrite(item)
        else:
            safe = _null_safe(item)
            if safe is not None:
                safe.parent = detection
                for child in safe.detection_items:
                    child.parent = safe
                detection.detection_items[index] = safe
