"""Release artifact writers, one module per SIEM or audience; each writes into its own `dist/` folder.

`WRITERS` maps the folder (and archive) name to the writer's module: `module.write(release, out_dir)` writes
from the release's compiled results (release.context.Release), and `module.FORMATS`, where present, names
the (target, output format) pairs it needs compiled besides each target's default format.
"""

from . import cloudwatch, elastic, mitigations, navigator, splunk

WRITERS: dict = {
    "splunk": splunk,
    "elastic": elastic,
    "cloudwatch": cloudwatch,
    "mitigations": mitigations,
    "navigator": navigator,
}
