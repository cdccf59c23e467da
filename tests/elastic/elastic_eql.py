"""Run the shipped EQL queries with the `eql` package (Endgame/Elastic's reference implementation:
`eql.parse_query` under `elasticsearch_syntax`, then `PythonEngine`) over ECS documents.

Where the Python engine's semantics differ from Elasticsearch's EQL, this module either aligns them or
refuses the query, so that an agreement it reports is an agreement Elasticsearch would give:

* `[q] with runs=n`, which eql 1.0.1 cannot parse, is expanded to `[q]` repeated n times; Elasticsearch
  documents `with runs` as exactly that shorthand
  (https://www.elastic.co/guide/en/elasticsearch/reference/current/eql-syntax.html#eql-with-runs-statement);
* `?` in a `:` or `like~` pattern is a one-character wildcard in Elasticsearch and a literal in eql 1.0.1:
  refused (UnsupportedQuery);
* `==` between strings is case-sensitive in Elasticsearch and case-insensitive in eql 1.0.1: refused unless
  the literal has no letters (the backend writes `==` only for IP addresses);
* a field holding an array matches `:` if any element does in Elasticsearch; eql 1.0.1 compares the array:
  documents are given to the engine with single-element arrays unwrapped, and a query on a field that holds
  several values is refused.
"""

from __future__ import annotations

import re
from datetime import datetime

import eql
from elastic_ingest import ecs_field_values
from evaluators import lucene_regexp
from eql import PythonEngine
from eql.ast import Field, String
from eql.events import Event
from eql.parser import elasticsearch_syntax, ignore_missing_functions
from eql.walkers import DepthFirstWalker


class UnsupportedQuery(Exception):
    pass


_RUNS = re.compile(r"(\[[^\[\]]*\])\s*with\s+runs\s*=\s*(\d+)", re.S)


def expand_runs(query: str) -> str:
    return _RUNS.sub(lambda m: " ".join([m.group(1)] * int(m.group(2))), query)


def parse(query: str):
    with elasticsearch_syntax, ignore_missing_functions:
        return eql.parse_query(expand_runs(query))


def _lucene_regexps(parsed):
    """eql 1.0.1 reads `regex`/`regex~` patterns as Python's, matched from the start; Elasticsearch runs them as
    Lucene RegExps on the whole value (ASCII case ignored by `regex~`, the only form the pack writes): each
    pattern is replaced by the Python pattern of the same meaning (tests/evaluators/lucene_regexp.py), anchored."""

    class Rewrite(DepthFirstWalker):
        def _walk_function_call(self, node, *args, **kwargs):
            if node.name == "match":
                node.arguments[1:] = [
                    String("(?:" + lucene_regexp.to_python(a.value) + r")\Z") if isinstance(a, String) else a
                    for a in node.arguments[1:]
                ]
            return node

    return Rewrite().walk(parsed)


def _field_name(node: Field) -> str:
    return ".".join([node.base, *map(str, node.path)])


def comparisons(parsed) -> list[tuple[str, str, str]]:
    """(operator, field, literal) of every string comparison: `wildcard` (from `:` / `like~`) or `==`."""
    out = []

    class Collect(DepthFirstWalker):
        def _walk_function_call(self, node, *args, **kwargs):
            if node.name in ("wildcard", "match") and isinstance(node.arguments[0], Field):
                for arg in node.arguments[1:]:
                    if isinstance(arg, String):
                        out.append((node.name, _field_name(node.arguments[0]), arg.value))
            return node

        def _walk_comparison(self, node, *args, **kwargs):
            if isinstance(node.left, Field) and isinstance(node.right, String):
                out.append((node.comparator, _field_name(node.left), node.right.value))
            return node

    Collect().walk(parsed)
    return out


def _check(parsed, docs) -> None:
    for op, field, literal in comparisons(parsed):
        if op == "wildcard" and "?" in literal:
            raise UnsupportedQuery(f"'?' wildcard in a pattern for {field}: eql 1.0.1 reads it literally")
        if op == "==" and re.search(r"[A-Za-z]", literal) and not _is_ip(literal):
            raise UnsupportedQuery(f"case-sensitive == on {field}: eql 1.0.1 compares case-insensitively")
        if any(len(ecs_field_values(d, field)) > 1 for d in docs):
            raise UnsupportedQuery(f"{field} holds several values in a document")


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _unwrap(value):
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return _unwrap(value[0]) if len(value) == 1 else [_unwrap(v) for v in value]
    return value


def _millis(doc: dict) -> int:
    return int(datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def run(query: str, docs: list[dict]) -> list[list[dict]]:
    """Matches of an EQL query: one list of documents per result (one for an event query, n for a sequence)."""
    parsed = parse(query)
    _check(parsed, docs)
    parsed = _lucene_regexps(parse(query))
    ordered = sorted(range(len(docs)), key=lambda i: (_millis(docs[i]), i))
    events = [Event("any", _millis(docs[i]), dict(_unwrap(docs[i]), __index=i)) for i in ordered]
    results: list[list[dict]] = []
    engine = PythonEngine({"time_unit": 1000})
    engine.add_query(parsed)

    def collect(result):
        members = result.events if hasattr(result, "events") else [result]
        results.append([docs[e.data["__index"]] for e in members])

    engine.add_output_hook(collect)
    engine.stream_events(events)
    return results


def concurrent(sequence: list[dict]) -> bool:
    """Whether a sequence's events share one @timestamp. Elasticsearch orders such events by the tiebreaker, and
    without one "considers the events concurrent and may not return them in a consistent sort order" (EQL search
    reference, "Specify a sort tiebreaker"): it may or may not return the sequence. The pack's rules set no
    tiebreaker (CloudTrail has none): the tests take the strict reading, that such a sequence is missed. Sigma's
    ordered correlation matches such steps (issue 20), so the fixture alert of steps in one second declares EQL a
    difference (fixtures/manifest.yml, the alert's `differences:`) and the Kibana note says so."""
    return len(sequence) > 1 and len({_millis(d) for d in sequence}) == 1
