"""An ATT&CK Navigator layer of the pack's coverage: one cell per (technique, tactic) the rules tag.

Layer file format 4.5 (https://github.com/mitre-attack/attack-navigator/blob/master/layers/LAYERFORMATv4_5.md),
domain enterprise-attack. A technique comes from a rule's `attack.tNNNN[.NNN]` tag, its tactic from the same
rule's tactic tag (`attack.impact`, `attack.defense-evasion`, ...) where ATT&CK maps the technique to that
tactic; a rule whose tactic tags do not fit the technique annotates it under every tactic (no `tactic`).
The score is the number of rules, the comment lists their titles; a correlation step (`PackRule.step_only`)
raises no alert and counts for nothing, its correlation's tags do. Output is deterministic: no timestamps,
sorted keys, two-space indent, `\\n` line endings.

The AWS Threat Technique Catalog splits some ATT&CK techniques into AWS-specific sub-techniques (T1666.A001
Create or Invite AWS Account, T1666.A002 Leave AWS Organization) that ATT&CK does not have (ATT&CK v18: T1666
has no sub-techniques) and the layer format cannot hold as technique ids (`T[0-9]{4}(.[0-9]{3})?`). A rule
names such a sub-technique by linking its catalog page in `references`; the cell of the ATT&CK technique then
lists, in its metadata, comment and links, each catalog sub-technique with the rules that cover it, instead
of an invented ATT&CK id.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from ...attack import AttackRef, attack_data, attack_refs
from ...pack import PACK_NAME, Pack, PackRule
from ...release.context import Release
from ..common import put

LAYER_FORMAT = "4.5"
# The Navigator release the layer was checked against; the format requires "at least 4.9.0".
NAVIGATOR_VERSION = "5.1.0"
DOMAIN = "enterprise-attack"
FILE_NAME = "cloudtrail-detection-pack.layer.json"
GRADIENT = ["#ffffff", "#66b1ff", "#1f5fbf"]


#: What the release compiles for this writer: nothing (it reads the rules' tags only).
NEEDS: tuple = ()

#: A catalog page link in a rule's references: https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/<id>.html
CATALOG_PAGE = re.compile(r"^https://aws-samples\.github\.io/threat-technique-catalog-for-aws/Techniques/(T\d{4}\.A\d{3})\.html$")
#: Names of the catalog's AWS-specific sub-techniques the pack covers, as the catalog titles them
#: (https://aws-samples.github.io/threat-technique-catalog-for-aws/Techniques/T1666.A002.html lists both).
CATALOG_SUBTECHNIQUES = {
    "T1666.A001": "Create or Invite AWS Account",
    "T1666.A002": "Leave AWS Organization",
}


def catalog_subtechniques(rule: PackRule) -> list[tuple[str, str]]:
    """(catalog id, catalog page) of each AWS Threat Technique Catalog sub-technique the rule links."""
    out = []
    for ref in rule.rule.references or []:
        m = CATALOG_PAGE.match(str(ref))
        if m:
            out.append((m.group(1), str(ref)))
    return sorted(set(out))


def build_layer(pack: Pack, version: str | None = None) -> dict:
    version = version or pack.version
    attack_version, _, _, _ = attack_data()
    cells: dict[tuple[str, str | None], list[PackRule]] = defaultdict(list)
    refs: dict[tuple[str, str | None], AttackRef] = {}
    for rule in pack.rules:
        if rule.step_only:
            continue  # a correlation step raises no alert: it covers nothing on its own
        for ref in attack_refs(rule):
            key = (ref.technique_id, ref.tactic)
            cells[key].append(rule)
            refs[key] = ref
    techniques = []
    for key in sorted(cells, key=lambda k: (k[0], k[1] or "")):
        ref, rules = refs[key], sorted(cells[key], key=lambda r: (r.title, r.id))
        entry = {
            "techniqueID": ref.technique_id,
            "score": len(rules),
            "comment": f"{len(rules)} rule(s): " + "; ".join(r.title for r in rules),
            "enabled": True,
            "metadata": [{"name": "rule", "value": f"{r.title} ({r.level}, {r.id})"} for r in rules],
            "links": [{"label": f"ATT&CK {ref.technique_id}", "url": ref.url}],
            "showSubtechniques": False,
        }
        catalog: dict[tuple[str, str], list[PackRule]] = defaultdict(list)
        for rule in rules:
            for sub_id, page in catalog_subtechniques(rule):
                if sub_id.split(".")[0] == ref.technique_id:
                    catalog[(sub_id, page)].append(rule)
        for (sub_id, page), covering in sorted(catalog.items()):
            label = f"AWS Threat Technique Catalog {sub_id} {CATALOG_SUBTECHNIQUES.get(sub_id, '')}".rstrip()
            titles = "; ".join(r.title for r in covering)
            entry["comment"] += f". {label}: {titles}"
            entry["metadata"].append({"name": label, "value": titles})
            entry["links"].append({"label": label, "url": page})
        if ref.tactic:
            entry["tactic"] = ref.tactic
        techniques.append(entry)
    max_score = max((t["score"] for t in techniques), default=0)
    covered = sorted({t["techniqueID"] for t in techniques})
    return {
        "name": f"CloudTrail Detection Pack {version}",
        "versions": {"attack": str(attack_version).split(".")[0], "navigator": NAVIGATOR_VERSION, "layer": LAYER_FORMAT},
        "domain": DOMAIN,
        "description": (
            f"Coverage of {PACK_NAME} {version}: {len(pack.rules)} Sigma rules for AWS CloudTrail over "
            f"{len(covered)} technique(s) ({', '.join(covered)}). Score = number of rules."
        ),
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "aggregateFunction": "average",
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": GRADIENT, "minValue": 0, "maxValue": max(max_score, 1)},
        "legendItems": [],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": [
            {"name": "pack", "value": PACK_NAME},
            {"name": "pack version", "value": version},
            {"name": "rules", "value": str(len(pack.rules))},
            {"name": "ATT&CK data", "value": f"Enterprise v{attack_version} (shipped excerpt)"},
        ],
        "links": [],
    }


def dumps(layer: dict) -> str:
    return json.dumps(layer, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(release: Release, out: Path) -> None:
    """Write the layer as `<out>/cloudtrail-detection-pack.layer.json`."""
    put(out / FILE_NAME, dumps(build_layer(release.pack, release.version)))
