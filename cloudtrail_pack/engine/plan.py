"""A pack compiled once for a scan, and sent as plain data to every worker process.

The parent converts each selected rule once, with the reference engine's SQLite backend. A worker then
only turns that SQL into Python predicates (the matcher parses it; closures cannot cross processes)
and keeps the reference engine, already compiled, for the rules the matcher refuses. No worker loads
the pack or calls pySigma.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..pack import Pack
from .matcher import MatcherUnsupported, compile_sql
from .prefilter import pack_event_names, required_event_names
from .reference import ReferenceEngine


@dataclass(frozen=True)
class RuleInfo:
    """What a match report says about its rule."""

    id: str
    title: str
    level: str
    correlation: str | None = None  # the correlation type, for correlation rules


@dataclass
class ScanPlan:
    rules: dict[str, RuleInfo]  # every selected rule, in pack order (correlations' base rules included)
    reported: frozenset[str]  # rules whose matches are reported (the ones asked for)
    fast: list[tuple[str, str, frozenset[str] | None]]  # (rule id, SQL, event names it requires; None: any)
    slow: ReferenceEngine | None  # detection rules the matcher refuses, evaluated by SQLite
    correlations: ReferenceEngine | None  # correlation rules, evaluated at the end
    counted: frozenset[str]  # base rules whose matches the correlations count
    event_names: frozenset[str] | None  # lower-cased event names some rule requires; None: every record
    unsupported: dict[str, str] = field(default_factory=dict)  # rule title -> why it is not evaluated

    @classmethod
    def build(cls, pack: Pack, rule_ids: list[str] | None = None, filters: tuple = ()) -> "ScanPlan":
        asked = pack.select(rule_ids)
        selected = pack.with_counted_rules(asked)
        engine = ReferenceEngine(pack, selected, filters)
        detections = [r for r in selected if not r.is_correlation and r.id not in engine.unsupported]
        fast, slow = [], []
        for rule in detections:
            try:
                compile_sql(engine.queries[rule.id])
            except MatcherUnsupported:
                slow.append(rule.id)
                continue
            # the names the rule as written requires: a filter only narrows what the rule matches
            fast.append((rule.id, engine.queries[rule.id], required_event_names(rule.rule)))
        correlations = [r.id for r in selected if r.is_correlation and r.id not in engine.unsupported]
        return cls(
            rules={
                r.id: RuleInfo(r.id, r.title, r.level, r.rule.type.name.lower() if r.is_correlation else None)
                for r in selected
            },
            reported=frozenset(r.id for r in asked),
            fast=fast,
            slow=engine.only(slow) if slow else None,
            correlations=engine.only(correlations) if correlations else None,
            counted=frozenset(str(ref.rule.id) for r in selected if r.is_correlation for ref in r.rule.rules),
            event_names=pack_event_names([r.rule for r in detections]),
            unsupported={pack.by_id(i).title: reason for i, reason in sorted(engine.unsupported.items())},
        )

    @property
    def runnable(self) -> bool:
        return bool(self.fast) or self.slow is not None

    def predicates(self) -> tuple[dict[str, list[tuple[str, Callable]]], list[tuple[str, Callable]]]:
        """({lower-cased event name: [(rule id, predicate)]}, [(rule id, predicate) for any event name])."""
        by_name: dict[str, list[tuple[str, Callable]]] = {}
        any_name: list[tuple[str, Callable]] = []
        for rule_id, sql, names in self.fast:
            entry = (rule_id, compile_sql(sql))
            if names is None:
                any_name.append(entry)
            else:
                for name in names:
                    by_name.setdefault(name, []).append(entry)
        return by_name, any_name
