"""Release artifact writers, one module per SIEM or audience; each writes into its own `dist/` folder.

`WRITERS` maps the folder (and archive) name to the writer's module: `module.write(release, out_dir)` writes
from the release's compiled results (release.context.Release), and `module.FORMATS`, where present, names
the (target, output format) pairs it needs compiled besides each target's default format.
"""

from . import athena, cloudtrail_lake, cloudwatch, elastic, eventbridge, mitigations, navigator, splunk

WRITERS: dict = {
    "splunk": splunk,
    "elastic": elastic,
    "cloudwatch": cloudwatch,
    "eventbridge": eventbridge,
    "athena": athena,
    "cloudtrail_lake": cloudtrail_lake,
    "mitigations": mitigations,
    "navigator": navigator,
}
