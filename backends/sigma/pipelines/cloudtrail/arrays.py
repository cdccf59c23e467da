"""CloudTrail request parameters that hold JSON arrays, and the pipeline item that refuses a rule matching on one.

Why: a CloudTrail record's `requestParameters` is the API request as JSON, so a request member that is a list is a
JSON array. In Logs Insights, "arrays ... flatten to lists of nested field names and values" written with the
element's position, `requestParameters.instancesSet.items.0.instanceId` (CWL_AnalyzeLogData-discoverable-fields), so
`requestParameters.layers` names no field at all; and "If a property selector points to an array or object, the
metric filter won't match the log format" (FilterAndPatternSyntax, "Using filter patterns to match terms in JSON
log events"). Either way the rule would compile into a query that silently matches nothing. Both languages name one element by its index (`requestParameters.layers.0`,
`$.requestParameters.layers[0]`); neither has a documented "any element" match.

How the pipeline knows a member is a list: from AWS's own API models. `REQUEST_ARRAYS_FILE` is an excerpt generated
from botocore's service models (`botocore/data/<service>/<version>/service-2.json`, Apache-2.0) by `generate()`:
for each covered event source, the request members of every operation whose shape is a list, nested through
structures and list elements. CloudTrail writes request members with their first letter lower-cased (`Layers` ->
`layers`, `UserName` -> `userName`). Covered event sources (`SERVICES`): the services whose request parameters the
pack's rules or SigmaHQ's AWS CloudTrail rules match on. EC2 is left out: CloudTrail records EC2 requests in EC2's
own query shape (`instancesSet.items`), not the model's. A member that is a list in some operations and not in
others is left out (the excerpt keeps only unambiguous arrays); maps are objects with free keys and are not
followed. Regenerate after a botocore upgrade with `python -m sigma.pipelines.cloudtrail.arrays`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionNOT
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from .common import detection_fields
from .schema import ARRAY, REQUEST_ARRAYS_FILE, ArrayProblem, request_array_problem, request_arrays

#: Covered CloudTrail event sources and the botocore service model of each (see the module docstring).
SERVICES: dict[str, str] = {
    "guardduty.amazonaws.com": "guardduty",
    "iam.amazonaws.com": "iam",
    "ecs.amazonaws.com": "ecs",
    "lambda.amazonaws.com": "lambda",
    "organizations.amazonaws.com": "organizations",
}

_LIST = ARRAY

Tree = dict  # {member: Tree | None, "[]": element Tree | None}


# --- the excerpt: generating and reading --------------------------------------------------------------------


def _member(name: str) -> str:
    """A request member's name as CloudTrail writes it in requestParameters."""
    return name[:1].lower() + name[1:]


def _kinds(shape, path: str, out: dict[str, set[str]], seen: frozenset[str]) -> None:
    """Record, for every request path under `shape`, the kinds of shape it has (`x[]` is an element of list x)."""
    kind = {"list": "list", "structure": "object", "map": "object"}.get(shape.type_name, "scalar")
    if path:
        out.setdefault(path, set()).add(kind)
    if shape.type_name == "structure" and shape.name not in seen:
        for name, member in shape.members.items():
            _kinds(member, f"{path}.{_member(name)}" if path else _member(name), out, seen | {shape.name})
    elif shape.type_name == "list":
        _kinds(shape.member, path + _LIST, out, seen)


def service_tree(model) -> Tree:
    """The arrays of one service's requests as a `Tree`, from a botocore ServiceModel.

    A node is the value at one request path: None if no array is known at or beneath it (a scalar, an object
    without arrays, or a member whose kind differs between operations); `{"[]": element}` for an array;
    `{member: node, ...}` for an object with arrays beneath; `{}` for an array element that is an object without
    arrays (so that naming the element itself is known to name an object).
    """
    kinds: dict[str, set[str]] = {}
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        if shape is not None:
            _kinds(shape, "", kinds, frozenset())
    members: dict[str, list[str]] = {}
    for path in kinds:
        if not path.endswith(_LIST):
            parent, _, name = path.rpartition(".")
            members.setdefault(parent, []).append(name)

    def build(path: str) -> Tree | None:
        kind = kinds.get(path, {"object"} if path == "" else set())
        if kind == {"list"}:
            return {_LIST: build(path + _LIST)}
        if kind != {"object"}:
            return None
        node = {}
        for name in sorted(members.get(path, [])):
            child = build(f"{path}.{name}" if path else name)
            if child is not None:
                node[name] = child
        return node if node or path.endswith(_LIST) else None

    return build("") or {}


def generate() -> dict:
    """The excerpt, from the installed botocore (deterministic: sorted keys, no timestamps)."""
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    arrays, models = {}, {}
    for source, service in sorted(SERVICES.items()):
        model = session.get_service_model(service)
        arrays[source] = service_tree(model)
        models[source] = f"botocore/data/{service}/{model.api_version}/service-2.json"
    return {
        "about": "CloudTrail requestParameters members that are JSON arrays, per event source: the list-typed "
        "request members of every operation of the service's API model, first letter lower-cased as CloudTrail "
        "writes them. Key '[]' marks an array; its value describes the elements (null: scalars). Generated by "
        "sigma.pipelines.cloudtrail.arrays.generate(); do not edit.",
        "source": {
            "package": "botocore",
            "version": botocore.__version__,
            "licence": "Apache-2.0",
            "models": models,
        },
        "arrays": arrays,
    }


def dump(excerpt: dict) -> str:
    return json.dumps(excerpt, indent=1, sort_keys=True) + "\n"


def excerpt() -> dict:
    return request_arrays()


# --- checking a field -----------------------------------------------------------------------------------------


def array_problem(field: str, source: str, tree: Tree) -> ArrayProblem | None:
    """`schema.request_array_problem` against a given tree (the tests pass their own)."""
    return request_array_problem(field, source, tree)


def rule_event_sources(rule: SigmaRule) -> set[str]:
    """The event sources a rule is about: the plain `eventSource` values its condition requires, lower-cased, or `*`
    (every covered source) if it names none, matches one with wildcards, or excludes one under `not`."""
    named: list[SigmaString] = []
    open_ended = False

    def walk(node, negated: bool) -> None:
        nonlocal open_ended
        if isinstance(node, ConditionNOT):
            negated = not negated
        if isinstance(node, ConditionFieldEqualsValueExpression) and node.field == "eventSource":
            if negated or not isinstance(node.value, SigmaString) or node.value.contains_special():
                open_ended = True
            else:
                named.append(node.value)
        for arg in getattr(node, "args", None) or []:
            walk(arg, negated)

    for condition in rule.detection.parsed_condition:
        walk(condition.parsed, False)
    if open_ended or not named:
        return {"*"}
    return {str(v).lower() for v in named}


def fields_and_sources(rule) -> tuple[list[str], set[str]]:
    """The fields a rule matches on (a detection) or groups by and counts (a correlation), and the event
    sources its records can come from ({"*"}: any)."""
    if isinstance(rule, SigmaCorrelationRule):
        fields = list(rule.group_by or [])
        ref = getattr(rule.condition, "fieldref", None)
        fields += [ref] if isinstance(ref, str) else list(ref or [])
        referenced = [r.rule for r in rule.rules if isinstance(getattr(r, "rule", None), SigmaRule)]
        return fields, set().union(*(rule_event_sources(r) for r in referenced)) if referenced else {"*"}
    return detection_fields(rule), rule_event_sources(rule)


def problems(fields: Iterable[str], sources: set[str]) -> list[ArrayProblem]:
    trees = excerpt()["arrays"]
    covered = sorted(trees) if "*" in sources else sorted(s for s in sources if s in trees)
    found = []
    for field in sorted(set(fields)):
        for source in covered:
            problem = array_problem(field, source, trees[source])
            if problem:
                found.append(problem)
    return found


@dataclass
class RejectArrayFieldsTransformation(PreprocessingTransformation):
    """Fail a rule that matches on, groups by or counts a requestParameters array (or an object inside one)."""

    target: str = ""

    def apply(self, rule) -> None:  # type: ignore[override]
        super().apply(rule)
        fields, sources = fields_and_sources(rule)
        found = problems(fields, sources)
        if found:
            reasons = "; ".join(dict.fromkeys(f"{p.field}: {p.describe()}" for p in found))
            raise SigmaTransformationError(
                f"{self.target}: {reasons}. Logs Insights flattens arrays into one field per element "
                "(requestParameters.x.0.y) and a metric filter does not apply a selector that points at an array "
                "or object, so the rule would match nothing",
                source=rule.source,
            )


def main(argv: list[str]) -> int:
    """Write the excerpt from the installed botocore into the given path (default: the packaged file)."""
    target = Path(argv[0]) if argv else Path(str(resources.files(__package__).joinpath(REQUEST_ARRAYS_FILE)))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump(generate()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
