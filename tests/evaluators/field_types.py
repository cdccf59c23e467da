"""The Elasticsearch type of each field of Elastic's AWS `cloudtrail` data stream, read from the integration's
own field declarations (tests/data/elastic_aws_cloudtrail_fields/, with their sources): the evaluators type
fields from this, never from the pack's table, so a wrong type in the pack shows as a wrong verdict.

How Fleet reads the files: every leaf of `fields/*.yml` is a field, a `group`'s `fields` nested under its dotted
name; an `external: ecs` entry takes its definition (type) from ECS; ECS fields the ingest pipeline writes without
the package declaring them are mapped by the `ecs@mappings` component template, with ECS's type.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "elastic_aws_cloudtrail_fields"
INTEGRATION_FILES = ("base-fields.yml", "ecs.yml", "fields.yml")


def _leaves(entries: list, prefix: str = ""):
    for entry in entries:
        name = prefix + entry["name"]
        if entry.get("type") == "group":
            yield from _leaves(entry.get("fields", []), name + ".")
        else:
            yield name, entry


@cache
def field_types() -> dict[str, str]:
    """Field name -> Elasticsearch type, for every field of the data stream."""
    ecs = yaml.safe_load((DATA / "ecs_flat.yml").read_text(encoding="utf-8"))
    types = {name: entry["type"] for name, entry in ecs.items()}  # ECS fields mapped by ecs@mappings
    for file in INTEGRATION_FILES:
        for name, entry in _leaves(yaml.safe_load((DATA / file).read_text(encoding="utf-8"))):
            types[name] = ecs[name]["type"] if entry.get("external") == "ecs" else entry["type"]
    return types


def field_type(name: str) -> str:
    """The type of `name`; a key below a `flattened` field is "flattened" (Elasticsearch's keyed sub-field).
    KeyError for a field the data stream does not map: Elasticsearch would not find it either."""
    types = field_types()
    if name in types:
        return types[name]
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if types.get(".".join(parts[:i])) == "flattened":
            return "flattened"
    raise KeyError(f"{name}: not a field of Elastic's AWS cloudtrail data stream ({DATA.name})")
