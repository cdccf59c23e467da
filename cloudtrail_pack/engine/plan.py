"""A pack compiled once for a scan, and sent as plain data to every worker process.

The parent converts each selected rule once, with the reference engine's SQLite backend. A worker then
only turns that SQL into Python predicates (the matcher parses it; closures cannot cross processes)
and keeps the reference engine, already compiled, for the rules the matcher refuses. No worker loads
the pack or calls pySigma.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..literal_search import search_literals
from .correlate import Sweep
from .results import RuleInfo

if TYPE_CHECKING:  # pySigma and the pack are imported where a plan is built: a cached plan runs without them
    from ..pack import Pack, PackRule
    from .reference import ReferenceEngine


@dataclass
class ScanPlan:
    rules: dict[str, RuleInfo]  # every selected rule, in pack order (correlations' base rules included)
    reported: frozenset[str]  # rules whose matches are reported (the ones asked for)
    fast: list[tuple[str, str, frozenset[str] | None]]  # (rule id, SQL, event names it requires; None: any)
    slow: ReferenceEngine | None  # detection rules the matcher refuses, evaluated by SQLite
    event_names: frozenset[str] | None  # lower-cased event names some rule requires; None: every record
    literals: dict[str, tuple] = field(default_factory=dict)  # rule id -> byte runs (prefilter.required_literals)
    unsupported: dict[str, str] = field(default_factory=dict)  # rule title -> why it is not evaluated
    sweeps: list[Sweep] = field(default_factory=list)  # correlations evaluated in one pass (correlate.py)
    fallback: ReferenceEngine | None = None  # correlations of other shapes: the reference, at the end
    fallback_counted: frozenset[str] = frozenset()  # the base rules those count
    every_record: bool = False  # decode and check every record's head (scan --check-every-record): no fast path

    @property
    def search_literals(self) -> tuple[bytes, ...] | None:
        """What records.py's fast path looks for in the raw bytes (literal_search.search_literals); None: the
        full path (some rule must see every record, or decides on bytes only RawTests can judge)."""
        return search_literals(self.event_names) if not (self.literals or self.every_record) else None

    @classmethod
    def build(cls, pack: Pack, rule_ids: list[str] | None = None, filters: tuple = ()) -> "ScanPlan":
        from .reference import ReferenceEngine
        from .results import titled

        asked = pack.select(rule_ids)
        selected = pack.with_counted_rules(asked)
        engine = ReferenceEngine(pack, selected, filters)
        detections = [r for r in selected if not r.is_correlation and r.id not in engine.unsupported]
        fast, slow = _by_matcher(engine, detections)
        names, literals = _prefilter(detections, slow)
        sweeps, others = _sweeps(r for r in selected if r.is_correlation and r.id not in engine.unsupported)
        return cls(
            rules={r.id: RuleInfo.of(r) for r in selected},
            reported=frozenset(r.id for r in asked),
            fast=fast,
            slow=engine.only(slow) if slow else None,
            sweeps=sweeps,
            fallback=engine.only(r.id for r in others) if others else None,
            fallback_counted=frozenset(i for r in others for i in _base_rules(r.rule)),
            event_names=names,
            literals=literals,
            unsupported=titled(pack, engine.unsupported),
        )

    @property
    def runnable(self) -> bool:
        return bool(self.fast) or self.slow is not None

    def predicates(self) -> tuple[dict[str, list[tuple[str, Callable]]], list[tuple[str, Callable]]]:
        """({lower-cased event name: [(rule id, predicate)]}, [(rule id, predicate) for any event name])."""
        from .matcher import compile_sql

        by_name: dict[str, list[tuple[str, Callable]]] = {}
        any_name: list[tuple[str, Callable]] = []
        for rule_id, sql, names in self.fast:
            entry = (rule_id, compile_sql(sql, checked=True))  # _by_matcher checked each when the plan was built
            if names is None:
                any_name.append(entry)
            else:
                for name in names:
                    by_name.setdefault(name, []).append(entry)
        return by_name, any_name


def _by_matcher(engine: ReferenceEngine, detections: list[PackRule]) -> tuple[list[tuple], list[str]]:
    """(the rules the matcher compiles, as ScanPlan.fast; the ids of those it refuses)."""
    from .matcher import MatcherUnsupported, compile_sql
    from .prefilter import required_event_names

    fast, slow = [], []
    for rule in detections:
        try:
            compile_sql(engine.queries[rule.id])
        except MatcherUnsupported:
            slow.append(rule.id)
            continue
        # the names the rule as written requires: a filter only narrows what the rule matches
        fast.append((rule.id, engine.queries[rule.id], required_event_names(rule.rule)))
    return fast, slow


def _prefilter(detections: list[PackRule], slow: list[str]) -> tuple[frozenset[str] | None, dict[str, tuple]]:
    """(the event names some rule requires, None if some rule must see every record; the literals a rule
    that pins no event name needs in the record's bytes, prefilter.py). A record is decoded if a rule
    wants its event name or its bytes pass some such rule's test."""
    from .prefilter import required_event_names, required_literals

    names: set[str] = set()
    literals: dict[str, tuple] = {}
    for rule in detections:
        required = required_event_names(rule.rule)
        if required is not None:
            names |= required
            continue
        runs = required_literals(rule.rule) if rule.id not in slow else None
        if runs is None:
            return None, {}  # this rule must see every record
        literals[rule.id] = runs
    return frozenset(names), literals


def _sweeps(correlations) -> tuple[list[Sweep], list[PackRule]]:
    """(the correlations swept in one pass, the others: left to the reference engine at the end)."""
    from .correlate import Unsupported

    sweeps, others = [], []
    for rule in correlations:
        try:
            sweeps.append(Sweep.of(rule.rule))
        except Unsupported:
            others.append(rule)
    return sweeps, others


def _base_rules(rule) -> list[str]:
    """The detection rules a correlation counts, through correlations of correlations."""
    out = []
    for ref in rule.rules:
        out.extend(_base_rules(ref.rule) if ref.rule.__class__.__name__ == "SigmaCorrelationRule" else [str(ref.rule.id)])
    return out
