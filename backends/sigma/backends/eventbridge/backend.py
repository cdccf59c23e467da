"""pySigma backend for Amazon EventBridge event patterns over CloudTrail events (sigma-cli: -t eventbridge).

One rule, one pattern: `pattern.py` turns the whole condition into the `detail` of an event pattern and adds the
envelope (`envelope.py`); the default output format is the pattern as PutRule's `EventPattern` receives it
(compact JSON). EventBridge matches one event at a time, so correlations are refused. The backend requires its
pipeline (`-p eventbridge_cloudtrail`), which knows CloudTrail's fields, containers, arrays and letter case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionItem, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConfigurationError
from sigma.pipelines.cloudtrail import pysigma_compat
from sigma.rule import SigmaRule

from . import jsonata, pattern
from .limits import EVENT_PATTERN_API_MAX_LENGTH, EVENT_PATTERN_MAX_LENGTH


@dataclass(frozen=True)
class StateMachineQuery:
    """A converted condition for the `state_machine` format: the widened pattern and the exact JSONata."""

    prefilter: pattern.Conj
    condition: str


class EventBridgeBackend(TextQueryBackend):
    """EventBridge event patterns for CloudTrail events (detail-type "... via CloudTrail")."""

    name: ClassVar[str] = "Amazon EventBridge event patterns"
    identifier: ClassVar[str] = "eventbridge"  # sigma-cli -t eventbridge
    formats: ClassVar[dict[str, str]] = {
        "default": "EventBridge event pattern (compact JSON, PutRule's EventPattern) over CloudTrail events",
        "state_machine": "JSON: a prefilter EventPattern and the JSONata Condition of a Step Functions Choice state",
    }
    requires_pipeline: ClassVar[bool] = True
    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"

    def __init__(
        self,
        processing_pipeline=None,
        collect_errors: bool = False,
        max_pattern_length: int | str = EVENT_PATTERN_MAX_LENGTH,
        **backend_options: Any,
    ):
        super().__init__(processing_pipeline, collect_errors, **backend_options)
        try:
            self.max_pattern_length = int(max_pattern_length)
        except ValueError:
            raise SigmaConfigurationError(f"max_pattern_length must be a number, not {max_pattern_length!r}") from None
        if not 1 <= self.max_pattern_length <= EVENT_PATTERN_API_MAX_LENGTH:
            raise SigmaConfigurationError(
                f"max_pattern_length must be 1 to {EVENT_PATTERN_API_MAX_LENGTH} (PutRule's EventPattern limit)"
            )

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback=None) -> list[Any]:
        self._state_machine = output_format == "state_machine"  # convert_condition is not told the format
        queries = super().convert_rule(rule, output_format, callback)
        if queries and pysigma_compat.leaves_unfinished(self, rule):
            # A rule a correlation counts keeps its bare conversion (pySigma leaves it unfinalized); output on
            # its own (sigma-cli), it is finished like any other rule.
            queries = pysigma_compat.finished_queries(self, rule, output_format or self.default_format)
        return queries

    def convert_condition(self, cond, state: ConversionState) -> pattern.Conj | StateMachineQuery:
        if getattr(self, "_state_machine", False):
            return StateMachineQuery(pattern.convert(cond, relax=True), jsonata.condition(cond))
        return pattern.convert(cond)

    def finish_query(self, rule, query, state: ConversionState):
        return query

    def compiled(self, query: pattern.Conj | pattern.EventPattern) -> pattern.EventPattern:
        """The checked pattern of a converted condition (the pack's writers read its state and regions)."""
        if isinstance(query, pattern.EventPattern):
            return query
        return pattern.event_pattern(query, self.max_pattern_length)

    def finalize_query_default(self, rule, query, index: int, state: ConversionState) -> str:
        if isinstance(query, str):
            return query
        return self.compiled(query).text()

    def finalize_output_default(self, queries: list[str]) -> list[str]:
        return queries

    def finalize_query_state_machine(self, rule, query, index: int, state: ConversionState) -> str:
        if isinstance(query, str):
            return query
        prefilter = pattern.widened_event_pattern(query.prefilter, self.max_pattern_length)
        if not prefilter.pattern["detail"]:
            raise pattern.refuse("the rule names no field a pattern can prefilter on: every CloudTrail event would start the state machine", rule)
        return json.dumps({"EventPattern": prefilter.pattern, "Condition": query.condition}, ensure_ascii=False, separators=(",", ":"))

    def finalize_output_state_machine(self, queries: list[str]) -> list[str]:
        return queries

    def convert_correlation_rule(self, rule: SigmaCorrelationRule, output_format=None, method=None, callback=None):
        error = pattern.refuse(
            "correlation rules count events over time; EventBridge matches one event at a time", rule
        )
        if self.collect_errors:
            self.errors.append((rule, error))
            return []
        raise error
