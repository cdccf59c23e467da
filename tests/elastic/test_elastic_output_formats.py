"""Every output format of the Elastic backends carries the query the `default` format writes.

The pipeline's fixes travel with the values (elastic_values.py: strings and regular expressions that write
themselves; field references as pySigma query expressions), so `sigma convert -f eqlapi|kibana_ndjson|dsl_lucene`
gets the same query text as the release's default format: the same escaping of hostile values, the same
field-reference comparison. A correlation the pipeline finishes itself (EQL's ordered sequence, ES|QL's time
window) is refused in the other formats, with the reason, instead of being shipped unfinished.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.backends.elasticsearch import EqlBackend, ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.cloudtrail import ecs_cloudtrail_pipeline
from test_elastic_correlations import ORDERED, correlation
from test_elastic_hostile_values import HOSTILE, sigma_literal


def _search_source(out: dict) -> dict:
    return json.loads(out["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


#: (backend, output format, the query text inside that format's output).
FORMATS = [
    (LuceneBackend, "dsl_lucene", lambda out: out["query"]["bool"]["must"][0]["query_string"]["query"]),
    (LuceneBackend, "kibana_ndjson", lambda out: _search_source(out)["query"]["query_string"]["query"]),
    (EqlBackend, "eqlapi", lambda out: out["query"]),
    (ESQLBackend, "kibana_ndjson", lambda out: _search_source(out)["query"]["esql"]),
]
IDS = [f"{backend.__name__}-{fmt}" for backend, fmt, _ in FORMATS]

SELF_SERVICE = {
    "sel": {"eventSource": "iam.amazonaws.com", "eventName": "DeleteLoginProfile"},
    "self": {"userIdentity.type": "IAMUser", "requestParameters.userName|fieldref": "userIdentity.userName"},
    "condition": "sel and not self",
}


def rule(detection: dict) -> dict:
    return {
        "title": "Formats",
        "id": "5f2f5c6e-0d3e-4d55-9e55-4c8b5a1f00aa",
        "status": "test",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": detection,
    }


def convert(backend_class, detection: dict, output_format: str = "default"):
    (query,) = backend_class(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_dicts([rule(detection)]), output_format)
    return query


@pytest.mark.parametrize("backend_class, output_format, embedded", [f for f in FORMATS if f[0] is not LuceneBackend], ids=IDS[2:])
def test_field_reference_is_written_in_every_format(backend_class, output_format, embedded):
    """The self-service exclusion compares the two fields in every format (it used to carry a placeholder string
    outside the default format, so the exclusion never applied)."""
    query = embedded(convert(backend_class, SELF_SERVICE, output_format))
    assert query == convert(backend_class, SELF_SERVICE)
    assert "user.target.name" in query and "user.name" in query and "ctfieldref" not in query


SETTINGS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend_class, output_format, embedded", FORMATS, ids=IDS)
@SETTINGS
@given(value=HOSTILE)
@example(value="line\nbreak")
@example(value="tab\there\r")
@example(value="ideographic\u3000space")
@example(value="literal * and ?")
@example(value='a" or event.action=="x')
def test_hostile_value_is_escaped_as_in_the_default_format(backend_class, output_format, embedded, value):
    detection = {"sel": {"userAgent": sigma_literal(value)}, "condition": "sel"}
    try:
        default = convert(backend_class, detection)
    except SigmaError:  # refused for one of the reasons test_elastic_hostile_values.py checks
        return
    assert embedded(convert(backend_class, detection, output_format)) == default


def test_ordered_sequence_is_refused_outside_the_default_format():
    """It used to come out as the stand-in the backend converts: a three-stage sequence of any events, `runs=1`."""
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="default output format only"):
        EqlBackend(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(correlation(ORDERED)), "eqlapi")


def test_esql_correlation_is_refused_outside_the_default_format():
    """It used to come out with the backend's fixed time buckets, which the pipeline replaces in the default format."""
    body = "    type: event_count\n    rules:\n        - user_deleted\n    timespan: 10m\n    condition:\n        gte: 3\n"
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="default output format only"):
        ESQLBackend(ecs_cloudtrail_pipeline()).convert(SigmaCollection.from_yaml(correlation(body)), "kibana_ndjson")

