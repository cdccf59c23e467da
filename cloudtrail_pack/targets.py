"""What a query-language target is: a pySigma backend with one of our CloudTrail pipelines, and how to get a fresh
instance of it. The table of the pack's targets is the registry's (`cloudtrail_pack/registry.py`), passed down to
whatever compiles: nothing below the registry reads a global table.

Backends and pipelines are found the way sigma-cli finds them (pySigma's plugin discovery), so
`build.py` and `sigma convert -t <backend> -p <pipeline>` always produce the same text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata

from sigma.plugins import InstalledSigmaPlugins

from .errors import PackError


@dataclass(frozen=True)
class Target:
    name: str  # our name for the query language, used in dist/ paths and tables
    backend: str  # sigma-cli backend id (-t)
    pipeline: str  # sigma-cli pipeline id (-p)
    title: str
    #: the output format the build table shows: what the target's artifacts deploy (EventBridge deploys a
    #: state machine behind each pattern, so a rule no pattern expresses alone still fires in real time)
    table_format: str = "default"
    #: False for a target whose artifacts are hunting queries run by hand (Athena, CloudTrail Lake): a correlation
    #: step (PackRule.step_only) keeps its query there, and raises no alert in the targets that alert
    alerts: bool = True
    backend_options: dict = field(default_factory=dict, hash=False, compare=False)


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


@cache
def distribution(module: str) -> str | None:
    """The installed distribution that ships a module, e.g. pySigma-backend-elasticsearch; None for a module no
    distribution lists (this repository's plugin, installed in editable mode)."""
    relative = module.replace(".", "/")
    names = {f"{relative}.py", f"{relative}/__init__.py"}
    top = module.split(".")[0]
    for name in metadata.packages_distributions().get(top, []):
        files = metadata.distribution(name).files or []
        if any(str(f) in names for f in files):
            return metadata.distribution(name).metadata["Name"]
    return None


def plugin_distributions(target: Target) -> set[str]:
    """The distributions of the target's backend and pipeline (the tools its queries depend on)."""
    installed = plugins()
    found = set()
    for plugin in (installed.backends.get(target.backend), installed.pipelines.get(target.pipeline)):
        module = getattr(plugin, "__module__", None)
        if module in sys.modules:
            found.add(distribution(module))
    return found - {None}
