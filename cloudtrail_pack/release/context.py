"""What a release writer receives: the pack, its version, each rule's locked version, the release options,
the targets it was compiled for and every compiled result. Writers only write; nothing downstream compiles again
or re-reads the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from sigma.pipelines.cloudtrail.ecs import INDEX as ECS_INDEX

from ..compilation import Compilation, Output, Refusal, Result, compile_pack
from ..filters import LocalFilter
from ..lock import locked_versions
from ..pack import Pack, PackError, PackRule, shown
from ..targets import Target

#: Elastic index patterns searched when no build option says otherwise (Elastic's AWS integration).
DEFAULT_ELASTIC_INDEX: tuple[str, ...] = (ECS_INDEX,)


@dataclass(frozen=True)
class ReleaseOptions:
    """Choices a user makes at build time (`build --elastic-index ... --filters DIR`)."""

    elastic_index: tuple[str, ...] = DEFAULT_ELASTIC_INDEX
    filters: tuple[LocalFilter, ...] = ()  # local tuning, applied to the rules they name


@dataclass(frozen=True)
class Cell:
    """One rule on one target in the build table: compiled, or not applicable with the one reason (and the local
    filters that cost it, when the rule compiles there without them)."""

    ok: bool
    reason: str = ""
    filters: tuple[str, ...] = ()
    step: bool = False  # compiled, but deployed as a correlation step only (STEP_ONLY): no alert of its own


#: Why a correlation step (PackRule.step_only) raises no alert of its own in a target that alerts.
STEP_ONLY = ("a correlation step only (every correlation that counts it has generate: false): no alert of its own "
             "(Elastic: a building block rule; Splunk, EventBridge, CloudWatch: nothing deployed); its correlations alert")


@dataclass
class Release:
    pack: Pack
    version: str
    rule_versions: dict[str, int]
    compiled: Compilation
    targets: Mapping[str, Target]  # what it was compiled for, by name: the build table's columns, their titles
    options: ReleaseOptions = field(default_factory=ReleaseOptions)

    def result(self, rule: PackRule | str, target: str, output_format: str = "default") -> Result:
        return self.compiled.result(rule, target, output_format)

    def queries(self, rule: PackRule | str, target: str, output_format: str = "default") -> tuple | None:
        return self.compiled.queries(rule, target, output_format)

    def matrix(self) -> dict[str, dict[str, Cell]]:
        """rule id -> target -> Cell, from each target's table format (what its artifacts deploy)."""
        return {r.id: {t: _cell(self.result(r, t, target.table_format), r.step_only and target.alerts)
                       for t, target in self.targets.items()} for r in self.pack.rules}


def _cell(result: Result, step: bool = False) -> Cell:
    if isinstance(result, Output):
        return Cell(True, STEP_ONLY, step=True) if step else Cell(True)
    return Cell(False, result.reason, result.filters)


def compile_release(pack: Pack, formats: Iterable[tuple[Target, str]], filters: tuple[LocalFilter, ...] = ()) -> Compilation:
    """Every rule for every (target, format). PackError on the first compile error, on the file at fault: the
    rule's, or a local filter's when the rule compiles without it (a filter field a target cannot express)."""
    formats = list(formats)
    failures: list[tuple[PackRule, str, PackError]] = []
    compiled = compile_pack(pack, formats, filters=filters, on_error=lambda *failure: failures.append(failure))
    if failures:
        rule, target, error = failures[0]
        raise _filter_at_fault(pack, rule, [f for f in formats if f[0].name == target], filters) or error
    if filters:
        _name_filter_costs(pack, formats, filters, compiled)
    return compiled


def _name_filter_costs(pack: Pack, formats: list[tuple[Target, str]], filters: tuple[LocalFilter, ...], compiled: Compilation) -> None:
    """Each refusal of a rule that compiles for that target without the local filters says so, and which filters
    cost it (those that alone make it refused; all of them if only together), in its reason and `filters`: a
    tuned build must not pass off a filter's cost as the rule's (e.g. EventBridge refusing a filter's regex). A rule
    refused without the filters too keeps the reason it has without them (a correlation's own, not the filter's
    on a rule it counts)."""
    plain = compile_pack(pack, formats, on_error=lambda *_: None)
    rules = {r.id: r for r in pack.rules}
    by_name = {(t.name, output_format): (t, output_format) for t, output_format in formats}
    for key, result in list(compiled.results.items()):
        if not isinstance(result, Refusal):
            continue
        if isinstance(plain.results.get(key), Refusal):
            compiled.results[key] = plain.results[key]  # refused anyway: the rule's own reason, not a filter's
            continue
        if not isinstance(plain.results.get(key), Output):
            continue
        rule_id, target, output_format = key
        alone = [
            f for f in filters
            if isinstance(compile_pack(pack, [by_name[(target, output_format)]], rules=[rules[rule_id]], filters=(f,),
                                       on_error=lambda *_: None).results.get(key), Refusal)
        ] or list(filters)
        named = ", ".join(f"{f.title!r} ({f.name})" for f in alone)
        compiled.results[key] = Refusal(f"local filter {named}: {result.reason}", tuple(f.name for f in alone))


def _filter_at_fault(pack: Pack, rule: PackRule, formats: list[tuple[Target, str]], filters: tuple[LocalFilter, ...]) -> PackError | None:
    """The error on the file of the one filter that makes `rule` fail to compile; None if the rule fails alone."""

    def error(with_filters: tuple[LocalFilter, ...]) -> PackError | None:
        found: list[PackError] = []
        compile_pack(pack, formats, rules=[rule], filters=with_filters, on_error=lambda _r, _t, e: found.append(e))
        return found[0] if found else None

    if not filters or error(()) is not None:
        return None
    for local in filters:
        caused = error((local,))
        if caused is not None:
            return PackError(shown(local.path), f"filter {local.title!r} on rule {rule.title!r}: {caused.message}; fix the filter")
    return None


def prepare(pack: Pack, formats: Iterable[tuple[Target, str]], options: ReleaseOptions | None = None) -> Release:
    """Compile every (target, format) (`writer.formats` derives them from the registry), then read the lock: a
    rule that cannot compile is the first thing to fix. Raises PackError for a compile error or a lock mismatch."""
    options = options or ReleaseOptions()
    formats = list(formats)
    compiled = compile_release(pack, formats, filters=options.filters)
    versions = locked_versions(pack)  # of the rules as written: local filters change no version
    targets = {target.name: target for target, _ in formats}
    return Release(pack, pack.version, versions, compiled, targets, options)


__all__ = ["STEP_ONLY", "Cell", "Output", "Refusal", "Release", "ReleaseOptions", "prepare"]
