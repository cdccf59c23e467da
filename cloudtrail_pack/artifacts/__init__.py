"""Release artifact writers, one module per SIEM or audience; each writes into its own `dist/` folder.

`WRITERS` maps the folder (and archive) name to `writer(pack, out_dir)`.
"""

from . import cloudwatch, elastic, mitigations, navigator, splunk

WRITERS: dict = {
    "splunk": splunk.write,
    "elastic": elastic.write_kibana_rules,
    "cloudwatch": cloudwatch.write,
    "mitigations": mitigations.write,
    "navigator": navigator.write,
}
