"""The query languages the pack compiles to, each a pySigma backend with one of our CloudTrail pipelines.

Backends and pipelines are found the way sigma-cli finds them (pySigma's plugin discovery), so
`build.py` and `sigma convert -t <backend> -p <pipeline>` always produce the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from sigma.plugins import InstalledSigmaPlugins

from .pack import PackError


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
        Target("eventbridge", "eventbridge", "eventbridge_cloudtrail", "Amazon EventBridge"),
        Target("athena", "athena", "athena_cloudtrail", "Amazon Athena SQL"),
        Target("cloudtrail_lake", "cloudtrail_lake", "cloudtrail_lake_cloudtrail", "CloudTrail Lake SQL"),
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
