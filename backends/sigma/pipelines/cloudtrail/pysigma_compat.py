"""The pySigma internals the plugin and the pack rely on, in one place (pySigma 1.5.1, pySigma-backend-sqlite 2.0.0).

Every read or write of a pySigma private name goes through this module; nothing else in `backends/` or
`cloudtrail_pack/` touches one. `tests/test_pysigma_compat.py` pins each behaviour used here, one test per
behaviour, so that a pySigma upgrade which changes one fails a test named for it. docs/upstream.md ("Hooks the
CloudTrail pipelines need") says which public hook would make each function unnecessary.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRuleBase


def pipeline_vars(transformation) -> Mapping[str, Any]:
    """The variables of the pipeline a transformation runs in (empty outside one).

    pySigma stores the backend's `name` and the output format there (`Backend.init_processing_pipeline`: `backend`,
    `output_format`), but hands a transformation its pipeline only as the private `_pipeline`
    (`Transformation.set_pipeline`)."""
    pipeline = getattr(transformation, "_pipeline", None)
    return pipeline.vars if pipeline is not None else {}


def backend_name(transformation) -> str | None:
    """`Backend.name` of the backend converting with the transformation's pipeline (None outside a conversion)."""
    return pipeline_vars(transformation).get("backend")


def output_format(transformation) -> str:
    """The output format the transformation's pipeline converts for (`default` outside a conversion)."""
    return pipeline_vars(transformation).get("output_format", "default")


def is_referenced(rule: SigmaRuleBase) -> bool:
    """True if a correlation of the rule's collection references the rule.

    pySigma records the referencing rules only in the private `_backreferences` (`add_backreference`;
    the public `referenced_by(rule)` asks about one given rule)."""
    return bool(getattr(rule, "_backreferences", None))


def forget_references(rule: SigmaRuleBase) -> None:
    """Forget which correlations reference `rule`: a deep copy of a rule carries copies of the correlations that
    referenced the original, and `SigmaCollection.resolve_rule_references` only adds to them."""
    if hasattr(rule, "_backreferences"):
        rule._backreferences = []


def detached_copy(rule: SigmaRuleBase) -> SigmaRuleBase:
    """A deep copy of `rule` that no correlation references yet (see `forget_references`), its output not hidden
    by one (see `keep_output`)."""
    copied = copy.deepcopy(rule)
    forget_references(copied)
    keep_output(copied)
    return copied


def keep_output(rule: SigmaRuleBase) -> None:
    """Let `backend.convert_rule(rule)` return the rule's queries although a correlation with `generate: false`
    references it.

    pySigma records a rule's standalone output only in the private `_output`, which
    `SigmaCorrelationRule.resolve_rule_references` clears for every rule a `generate: false` correlation
    references, even when another correlation that references the rule has `generate: true`; `convert_rule`
    then returns no query. The pack compiles every rule (a correlation step keeps its hunting queries) and
    decides what alerts from the correlations' `generate` itself (`PackRule.step_only`)."""
    rule._output = True


def leaves_unfinished(backend, rule: SigmaRuleBase) -> bool:
    """True if `backend.convert_rule(rule)` stores the rule's bare conditions unfinished.

    pySigma's `Backend.convert_rule` finalizes a rule's queries (output format, postprocessing) only when no
    correlation references it or the backend sets `finalize_correlation_subqueries`: otherwise the correlation
    embeds the bare condition. The rule's own queries, output on their own, are then `finished_queries`."""
    return is_referenced(rule) and not backend.finalize_correlation_subqueries


def finished_queries(backend, rule: SigmaRuleBase, output_format: str) -> list:
    """The queries of a converted rule finished as pySigma finishes any rule's (`finalize_query`: the output format's
    own finalizer, then the pipeline's postprocessing), from the bare conditions pySigma stored."""
    states = rule.get_conversion_states()
    return [
        backend.finalize_query(rule, query, index, states[index], output_format)
        for index, query in enumerate(rule.get_conversion_result())
    ]


def correlation_plan(sqlite_backend, rule: SigmaCorrelationRule) -> dict:
    """The execution plan pySigma-backend-sqlite compiles for a correlation (what its runtime executes).

    The backend keeps plans in the private `_correlation_plans`; its public `zircolite` output format carries the
    same plan object as `correlation_plan`, so the correlation is converted in that format."""
    (entry,) = sqlite_backend.convert_correlation_rule(rule, "zircolite")
    return entry["correlation_plan"]
