"""Shared fixtures of the Elastic target's tests: the built NDJSON (written once per session, read back
from disk) and the fixture corpus as ECS documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMA_PATH = Path(__file__).parent / "kibana_rule_schema.json"


@pytest.fixture(scope="session")
def elastic_dir(pack, tmp_path_factory) -> Path:
    from release_helpers import release_for

    from cloudtrail_pack.artifacts import elastic
    from cloudtrail_pack.artifacts.elastic import write_kibana_rules

    out = tmp_path_factory.mktemp("elastic")
    write_kibana_rules(release_for(pack, elastic), out)
    return out


@pytest.fixture(scope="session")
def ndjson_path(elastic_dir) -> Path:
    from cloudtrail_pack.artifacts.elastic import NDJSON_NAME

    return elastic_dir / NDJSON_NAME


@pytest.fixture(scope="session")
def shipped_rules(ndjson_path) -> list[dict]:
    from cloudtrail_pack.artifacts.elastic import read_kibana_rules

    return read_kibana_rules(ndjson_path)


@pytest.fixture(scope="session")
def skipped_report(elastic_dir) -> list[dict]:
    from cloudtrail_pack.artifacts.elastic import SKIPPED_NAME

    return json.loads((elastic_dir / SKIPPED_NAME).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def rule_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
