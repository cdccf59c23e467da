"""Every shipped Athena and CloudTrail Lake query, executed: the fixtures loaded into each documented table shape
in DuckDB (tables.py), the query transpiled from Trino SQL by sqlglot and run, agreeing with the reference engine
on every fixture record. Correlations: the rows (one per window, as the reference's plan gives them) merged as
`Verdict.incidents` merges the reference's alerts, then compared as (rule, group, events)."""

from __future__ import annotations

from functools import cache

import pytest
from fixture_corpus import FIXTURE_FILES

from cloudtrail_pack.compilation import compile_pack
from cloudtrail_pack.pack import load_pack
from cloudtrail_pack.registry import TARGETS as REGISTRY

from . import tables

PACK = load_pack()
RULES = PACK.rules
TARGETS = ("athena", "cloudtrail_lake")
COMPILED = compile_pack(PACK, [(REGISTRY[t], "default") for t in TARGETS])
RUN = {"athena": (tables.athena_db, tables.run_athena), "cloudtrail_lake": (tables.lake_db, tables.run_lake)}


@cache
def database(target: str, index: int):
    return RUN[target][0](FIXTURE_FILES[index].records)


_verdicts: dict = {}


def verdict(reference, index: int):
    if index not in _verdicts:
        _verdicts[index] = reference.run(FIXTURE_FILES[index].records)
    return _verdicts[index]


def query(rule, target: str) -> str:
    (sql,) = COMPILED.queries(rule, target)
    return sql


def merged(rule, rows: list[dict]) -> set:
    """(rule id, group, events) per burst: rows of one group whose events overlap, merged (Verdict.incidents)."""
    found: list[tuple[str, tuple, set]] = []
    for row in rows:
        group = tuple(sorted((f, str(row[f]).lower()) for f in rule.rule.group_by or []))
        events = set(row["event_ids"])
        for other in [m for m in found if m[1] == group and m[2] & events]:
            events |= other[2]
            found.remove(other)
        found.append((rule.id, group, events))
    return {(r, g, frozenset(e)) for r, g, e in found}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("rule", [r for r in RULES if not r.is_correlation], ids=lambda r: r.slug)
def test_base_rule_agrees_with_reference_on_every_fixture_file(rule, target, reference):
    matched = 0
    for index, f in enumerate(FIXTURE_FILES):
        rows = RUN[target][1](query(rule, target), database(target, index))
        expected = {e for e, ids in verdict(reference, index).matches.items() if rule.id in ids}
        assert {row["eventid"] for row in rows} == expected, str(f)
        matched += len(expected)
    assert matched  # every rule of the pack matches some fixture


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("rule", [r for r in RULES if r.is_correlation], ids=lambda r: r.slug)
def test_correlation_agrees_with_reference_on_every_fixture_file(rule, target, reference):
    found = 0
    for index, f in enumerate(FIXTURE_FILES):
        rows = RUN[target][1](query(rule, target), database(target, index))
        incidents = {i for i in verdict(reference, index).incidents() if i[0] == rule.id}
        assert merged(rule, rows) == incidents, str(f)
        found += len(incidents)
    assert found  # every correlation of the pack fires on some fixture file


@pytest.mark.parametrize("target", TARGETS)
def test_manifest_alerts_are_found(target):
    """The alerts fixtures/manifest.yml declares, each one found by the shipped correlation query."""
    by_id = {r.id: r for r in RULES}
    checked = 0
    for index, f in enumerate(FIXTURE_FILES):
        for alert in f.alerts:
            rule = by_id[alert.rule_id]
            rows = RUN[target][1](query(rule, target), database(target, index))
            assert (alert.rule_id, alert.group, alert.events) in merged(rule, rows), str(f)
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("target", TARGETS)
def test_every_pack_rule_compiles(target):
    assert all(COMPILED.queries(r, target) for r in RULES), {
        r.slug: COMPILED.result(r, target) for r in RULES if not COMPILED.queries(r, target)
    }
