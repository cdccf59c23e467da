"""The registry: every query language the pack compiles to and every writer of the release, one line each.

Adding a target is a line in TARGETS (its pySigma backend and pipeline, found by plugin discovery), and, for a
release artifact, a writer folder under artifacts/ and a line in WRITERS. Everything else is derived: what a
release compiles (each target's default format for the build table, then each writer's NEEDS:
`release.writer.formats`), the build table's columns, `convert`'s choices, and the tools the manifest lists (the
distributions of the targets' backends and pipelines). Nothing below this module reads these tables: they are
passed down (`release.build(..., targets=TARGETS, writers=WRITERS)`).
"""

from __future__ import annotations

from .artifacts import athena, cloudtrail_lake, cloudwatch, elastic, eventbridge, mitigations, navigator, splunk
from .release.writer import Writer
from .targets import Target

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cloudwatch", "cloudwatch", "cloudwatch_cloudtrail", "CloudWatch Logs Insights"),
        Target("splunk", "splunk", "splunk_cloudtrail", "Splunk SPL"),
        Target("lucene", "lucene", "ecs_cloudtrail", "Elastic Lucene"),
        Target("eql", "eql", "ecs_cloudtrail", "Elastic EQL"),
        Target("esql", "esql", "ecs_cloudtrail", "Elastic ES|QL"),
        Target("eventbridge", "eventbridge", "eventbridge_cloudtrail", "Amazon EventBridge", table_format="state_machine"),
        Target("athena", "athena", "athena_cloudtrail", "Amazon Athena SQL", alerts=False),
        Target("cloudtrail_lake", "cloudtrail_lake", "cloudtrail_lake_cloudtrail", "CloudTrail Lake SQL", alerts=False),
    )
}

#: The release's writers by the dist/ folder (and archive) each writes: in the order they write.
WRITERS: dict[str, Writer] = {
    "splunk": splunk,
    "elastic": elastic,
    "cloudwatch": cloudwatch,
    "eventbridge": eventbridge,
    "athena": athena,
    "cloudtrail_lake": cloudtrail_lake,
    "mitigations": mitigations,
    "navigator": navigator,
}
