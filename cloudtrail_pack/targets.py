"""The query languages the pack compiles to, each a pySigma backend with one of our CloudTrail pipelines.

Backends and pipelines are found the way sigma-cli finds them (pySigma's plugin discovery), so
`build.py` and `sigma convert -t <backend> -p <pipeline>` always produce the same text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.plugins import InstalledSigmaPlugins

from .pack import Pack, PackError, PackRule


@dataclass(frozen=True)
class Target:
    name: str  # our name for the query language, used in dist/ paths and tables
    backend: str  # sigma-cli backend id (-t)
    pipeline: str  # sigma-cli pipeline id (-p)
    title: str
    backend_options: dict = field(default_factory=dict, hash=False, compare=False)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cloudwatch", "cloudwatch", "cloudwatch_cloudtrail", "CloudWatch Logs Insights"),
        Target("splunk", "splunk", "splunk_cloudtrail", "Splunk SPL"),
        Target("lucene", "lucene", "ecs_cloudtrail", "Elastic Lucene"),
        Target("eql", "eql", "ecs_cloudtrail", "Elastic EQL"),
        Target("esql", "esql", "ecs_cloudtrail", "Elastic ES|QL"),
    )
}


@cache
def plugins() -> InstalledSigmaPlugins:
    return InstalledSigmaPlugins.autodiscover()


def backend_for(target: Target, **options):
    """A fresh backend instance with the target's pipeline (a backend keeps state per conversion)."""
    installed = plugins()
    try:
        backend_class = installed.backends[target.backend]
        pipeline = installed.pipelines[target.pipeline]()
    except KeyError as e:
        raise PackError(target.name, f"pySigma plugin {e} is not installed; run `make dist` to install the project")
    return backend_class(processing_pipeline=pipeline, **{**target.backend_options, **options})


def fresh_collection(rules: list[PackRule]) -> SigmaCollection:
    """Copies of the rules, references resolved: pipelines change rules in place while they convert them."""
    copies = [copy.deepcopy(r.rule) for r in rules]
    for rule in copies:
        if hasattr(rule, "_backreferences"):
            rule._backreferences = []  # re-derived below, from these rules only
    collection = SigmaCollection(copies)
    collection.resolve_rule_references()
    return collection


def compile_rules(
    pack: Pack, target: Target | str, output_format: str = "default", rules: list[PackRule] | None = None, **options
) -> dict[str, list]:
    """Compile rules (default: the whole pack) for one target: {rule id: [query, ...]}, in pack order.

    A rule is compiled on its own, so it comes out as a finished standalone query even when a correlation
    references it (pySigma leaves a referenced rule unfinalized, as the correlation's sub-search). A
    correlation is compiled together with the rules it references. Errors name the rule's file.
    """
    target = TARGETS[target] if isinstance(target, str) else target
    wanted = rules if rules is not None else pack.rules
    out: dict[str, list] = {}
    base = [r for r in wanted if not r.is_correlation]
    if base:
        out.update(_convert(target, output_format, base, base, options))
    for correlation in (r for r in wanted if r.is_correlation):
        out.update(_convert(target, output_format, _with_references(pack, correlation), [correlation], options))
    return out


def _convert(target: Target, output_format: str, rules: list[PackRule], emit: list[PackRule], options) -> dict[str, list]:
    backend = backend_for(target, **options)
    collection = fresh_collection(rules)
    out: dict[str, list] = {}
    for pack_rule, rule in zip(rules, collection.rules):
        try:
            if pack_rule.is_correlation:
                try:
                    queries = backend.convert_correlation_rule(rule, output_format)
                except NotImplementedError as e:  # pySigma's way of saying a backend has no correlations
                    raise SigmaFeatureNotSupportedByBackendError(f"{target.title} queries cannot express correlations") from e
            else:
                queries = backend.convert_rule(rule, output_format)
        except SigmaError as e:
            line = getattr(getattr(e, "source", None), "line", None)
            raise PackError(pack_rule.path, f"{target.title}: {e}", line) from e
        if pack_rule in emit:
            out[pack_rule.id] = list(queries)
    return out


def _with_references(pack: Pack, correlation: PackRule) -> list[PackRule]:
    """The correlation preceded by the rules it names (base rules come first in a pack)."""
    ids = {str(ref.rule.id) for ref in correlation.rule.rules} | {correlation.id}
    return [r for r in pack.rules if r.id in ids]
