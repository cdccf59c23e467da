"""The field types of the AWS integration's cloudtrail data stream, as the pipeline and the rules use them:
one checked-in excerpt (backends/sigma/pipelines/cloudtrail/data/cloudtrail-field-types.json) with its
provenance, which types every ECS field the mapping can produce and every field the integration writes."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from elastic_ingest import to_ecs
from evaluators.field_types import DATA, field_types
from fixture_corpus import FIXTURE_FILES
from sigma.pipelines.cloudtrail.ecs_fields import (
    ECS_FIELD_TYPES,
    ECS_FIELDS,
    ECS_FLATTENED_OBJECTS,
    ECS_SHARED_FIELDS,
    ecs_field,
    ecs_field_type,
)

EXCERPT = json.loads(files("sigma.pipelines.cloudtrail").joinpath("data/cloudtrail-field-types.json").read_text(encoding="utf-8"))


def test_every_entry_names_its_source():
    assert {e["source"] for e in EXCERPT["fields"].values()} <= set(EXCERPT["sources"])


@pytest.mark.parametrize("source", sorted(EXCERPT["sources"]))
def test_every_source_has_repository_path_commit_and_licence(source):
    entry = EXCERPT["sources"][source]
    assert {"repository", "path", "commit", "licence"} <= set(entry) and len(entry["commit"]) == 40


def test_the_integrations_fields_come_from_the_commit_the_pipeline_transcription_cites():
    assert EXCERPT["sources"]["fields.yml"] == {
        "commit": "0b97ab02df57b57303b67e48840bb75dfe5c4738",
        "licence": "Elastic License 2.0",
        "path": "packages/aws/data_stream/cloudtrail/fields/fields.yml",
        "repository": "elastic/integrations",
    }


def test_the_type_table_is_the_integrations_own():
    """The pack's table against the tests' own reading of the integration's field files and ECS
    (tests/data/elastic_aws_cloudtrail_fields/, what the evaluators type fields by): same fields, same types."""
    theirs = field_types()
    assert sorted(set(ECS_FIELD_TYPES) ^ set(theirs)) == []
    assert {n: (t, theirs[n]) for n, t in ECS_FIELD_TYPES.items() if t != theirs[n]} == {}


def test_the_tests_copy_names_the_commits_the_pack_cites():
    """Both read the same versions of the files, so a difference above is a transcription error, not a drift."""
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for source in EXCERPT["sources"].values():
        assert f"`{source['path']}` | `{source['commit']}`" in readme, source


def test_every_ecs_field_the_mapping_can_produce_has_a_type_in_the_excerpt():
    produced = set(ECS_FIELDS.values()) | {home for home, _ in ECS_SHARED_FIELDS.values()}
    produced |= {target.rstrip(".") for target in ECS_FLATTENED_OBJECTS.values()}
    assert sorted(produced - set(ECS_FIELD_TYPES)) == []


def test_a_request_parameter_is_a_key_of_a_flattened_field():
    assert ecs_field_type(ecs_field("requestParameters.x-amz-acl")) == "flattened"


@pytest.mark.parametrize(
    "cloudtrail, kind",
    [
        ("readOnly", "boolean"),
        ("eventTime", "date"),
        ("userIdentity.sessionContext.attributes.creationDate", "date"),
        ("managementEvent", "keyword"),
        ("sourceIPAddress", "keyword"),
    ],
)
def test_types_of_mapped_fields(cloudtrail, kind):
    assert ecs_field_type(ecs_field(cloudtrail)) == kind


def test_a_field_outside_the_data_stream_has_no_type():
    with pytest.raises(KeyError, match="not a field of Elastic's AWS cloudtrail data stream"):
        ecs_field_type("aws.cloudtrail.no_such_field")


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value, prefix)
    else:
        yield prefix


def test_every_field_the_integration_writes_for_the_corpus_has_a_type():
    written = {name for f in FIXTURE_FILES for r in f.records for name in _leaves(to_ecs(r, ingested_at="2025-01-01T00:00:00Z"))}
    untyped = []
    for name in sorted(written):
        try:
            ecs_field_type(name)
        except KeyError:
            untyped.append(name)
    assert untyped == []


def test_event_ingested_is_set_as_fleets_final_pipeline_sets_it():
    record = FIXTURE_FILES[0].records[0]
    assert to_ecs(record, ingested_at="2025-01-01T10:04:59.870+00:00")["event"]["ingested"] == "2025-01-01T10:04:59Z"
