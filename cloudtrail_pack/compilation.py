"""Compile the pack once: every rule for every target and output format a release needs, each result
either the compiled output or a refusal with one reason text.

Each (target, format) gets one backend (with the target's pipeline) and one copy of the pack, converted
the way sigma-cli converts a folder: base rules first, then correlations, which reuse the conversion of
the rules they count. pySigma leaves a rule that a correlation references unfinalized (it is the
correlation's sub-search); its standalone query is finalized here from the same conversion, so no rule
is converted twice. Writers, the build table and the manifest read these results; none compiles again.

A refusal (`SigmaFeatureNotSupportedByBackendError`: the target cannot say what the rule means) leaves
the rule out of that target with the backend's reason, without the file location pySigma appends, so
that every artifact gives the same reason in the same words wherever the build runs. So does any other
exception the backend raises for one rule (pySigma's `NotImplementedError` for a modifier a backend has no
expression for, or a backend's own defect): the target cannot convert that rule, and the reason names the
backend's package; it never stops the build with a traceback. A Sigma error (an unmapped field, a broken
value: the rule is wrong for every target) fails the build, naming the rule's file.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import pysigma_compat

from .filters import LocalFilter, apply_filters
from .pack import Pack, PackError, PackRule, shown
from .targets import Target, backend_for, distribution


@dataclass(frozen=True)
class Output:
    """What the backend wrote for one rule: usually one query."""

    queries: tuple


@dataclass(frozen=True)
class Refusal:
    """The target cannot express the rule as Sigma means it; the rule is left out of the target. `filters`: the
    local filters (their file names) that cost it, when the rule compiles for the target without them."""

    reason: str
    filters: tuple[str, ...] = ()


Result = Union[Output, Refusal]


@dataclass
class Compilation:
    """Every compiled result of a pack, by (rule id, target name, output format)."""

    results: dict[tuple[str, str, str], Result] = field(default_factory=dict)

    def result(self, rule: PackRule | str, target: str, output_format: str = "default") -> Result:
        rule_id = rule if isinstance(rule, str) else rule.id
        try:
            return self.results[(rule_id, target, output_format)]
        except KeyError:
            raise KeyError(f"{target} {output_format} was not compiled for rule {rule_id}") from None

    def queries(self, rule: PackRule | str, target: str, output_format: str = "default") -> tuple | None:
        """The rule's queries, or None if the target refused it."""
        result = self.result(rule, target, output_format)
        return result.queries if isinstance(result, Output) else None


def message(error: SigmaError) -> str:
    """An error's text without the rule location pySigma appends (an absolute path)."""
    return str(error.args[0]) if error.args else str(error)


#: What pySigma appends to a non-Sigma exception raised while converting a rule (conversion/base.py).
_PYSIGMA_LOCATION = re.compile(r" \(while [a-z ]+ rule .*\)$", re.S)


def backend_failure(target: Target, backend, error: Exception) -> str:
    """The refusal reason for an exception a backend raised on one rule: the target, the backend's package
    and what it said, without the rule's path."""
    text = str(error.args[0]) if error.args else ""
    text = _PYSIGMA_LOCATION.sub("", text).strip() or type(error).__name__
    module = type(backend).__module__
    package = distribution(module) if module in sys.modules else None
    who = package or f"the {target.backend} backend"
    return f"{target.title}: {who} cannot convert this rule ({type(error).__name__}: {text})"


def fresh_collection(rules: list[PackRule], filters: tuple[LocalFilter, ...] = ()) -> SigmaCollection:
    """Copies of the rules, local filters applied, references resolved among them: pipelines change rules
    while converting them."""
    copies = [pysigma_compat.detached_copy(r.rule) for r in rules]  # references re-derived below, among these only
    apply_filters(copies, filters)
    collection = SigmaCollection(copies)
    collection.resolve_rule_references()
    for rule in copies:  # a correlation step is compiled too; what alerts is PackRule.step_only's to say
        pysigma_compat.keep_output(rule)
    return collection


def compile_pack(
    pack: Pack,
    formats: Iterable[tuple[Target, str]],
    rules: list[PackRule] | None = None,
    options: dict[str, dict] | None = None,
    on_error: Callable[[PackRule, str, PackError], None] | None = None,
    filters: tuple[LocalFilter, ...] = (),
) -> Compilation:
    """Compile `rules` (default: the pack; a correlation brings the rules it counts) for each
    (target, output format), the Target passed down from the registry; results are keyed by the target's name. `options[target name]` are backend options; `filters` (local tuning) are applied
    to the rules they name. A compile error raises PackError, or, with `on_error(rule, target, error)`, is
    reported there and the rule left without a result (benchmarks)."""
    compilation = Compilation()
    wanted = pack.with_counted_rules(rules if rules is not None else pack.rules)
    for target, output_format in dict.fromkeys(formats):
        _compile_target(compilation, target, output_format, wanted, (options or {}).get(target.name, {}), on_error, filters)
    if rules is not None:
        ids = {r.id for r in rules}
        compilation.results = {k: v for k, v in compilation.results.items() if k[0] in ids}
    return compilation


def _compile_target(compilation: Compilation, target: Target, output_format: str, rules: list[PackRule], options: dict, on_error, filters) -> None:
    backend = backend_for(target, **options)
    backend.init_processing_pipeline(output_format)
    collection = fresh_collection(rules, filters)
    by_id = {r.id: r for r in rules}
    for pack_rule, rule in zip(rules, collection.rules):
        key = (pack_rule.id, target.name, output_format)
        if pack_rule.is_correlation:
            if any(compilation.results.get((str(ref.rule.id), target.name, output_format)) is None for ref in rule.rules):
                continue  # a rule it counts failed (reported to on_error): nothing to correlate
            refused = [
                compilation.results[(str(ref.rule.id), target.name, output_format)]
                for ref in rule.rules
                if isinstance(compilation.results.get((str(ref.rule.id), target.name, output_format)), Refusal)
            ]
            if refused:
                compilation.results[key] = Refusal(f"a rule it counts is not available in {target.title}: {refused[0].reason}")
                continue
        try:
            if pack_rule.is_correlation:
                try:
                    queries = backend.convert_correlation_rule(rule, output_format)
                except NotImplementedError as e:  # pySigma's way of saying a backend has no correlations
                    raise SigmaFeatureNotSupportedByBackendError(f"{target.title} queries cannot express correlations") from e
            else:
                queries = backend.convert_rule(rule, output_format)
                if pysigma_compat.leaves_unfinished(backend, rule):
                    queries = pysigma_compat.finished_queries(backend, rule, output_format)
        except SigmaFeatureNotSupportedByBackendError as e:
            compilation.results[key] = Refusal(message(e))
            continue
        except SigmaError as e:
            line = getattr(getattr(e, "source", None), "line", None)
            error = PackError(shown(by_id[pack_rule.id].source), f"{target.title}: {message(e)}", line)
            if on_error is None:
                raise error from e
            on_error(pack_rule, target.name, error)
            continue
        except MemoryError:
            raise
        except Exception as e:  # the backend failed on this rule: it cannot convert it (see the docstring)
            compilation.results[key] = Refusal(backend_failure(target, backend, e))
            continue
        compilation.results[key] = Output(tuple(queries))


def compile_rules(
    pack: Pack,
    target: Target,
    output_format: str = "default",
    rules: list[PackRule] | None = None,
    filters: tuple[LocalFilter, ...] = (),
    **options,
) -> dict[str, list]:
    """{rule id: [query, ...]} for one target and format, in pack order; a refusal raises PackError caused by
    SigmaFeatureNotSupportedByBackendError, naming the rule's file."""
    name = target.name
    wanted = rules if rules is not None else pack.rules
    compilation = compile_pack(pack, [(target, output_format)], wanted, {name: options} if options else None, filters=filters)
    out: dict[str, list] = {}
    for rule in wanted:
        result = compilation.result(rule, name, output_format)
        if isinstance(result, Refusal):
            cause = SigmaFeatureNotSupportedByBackendError(result.reason)
            raise PackError(shown(rule.source), f"{target.title}: {result.reason}") from cause
        out[rule.id] = list(result.queries)
    return out
