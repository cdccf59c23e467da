"""Local tuning: Sigma filters, kept in a folder of their own and applied when the pack is compiled.

A detection engineer excludes their automation principals, user agents or sandbox accounts without
editing a rule: a filter (the Sigma filters specification, pySigma's `SigmaFilter`) names the rules it
applies to and adds a condition to each, at build time (`build --filters DIR`; `check`, `convert` and
`scan` take the same option). The rules, their logic hashes and their locked versions stay as they are;
the release records which filters it was built with. A filter only narrows a rule; the same folder holds local
values too (`local_values.py`), which widen a rule's list and are loaded, checked and applied as filters are.

Loading is strict, like the rules': a broken filter, a filter for another log source, one that names no
rule of the pack (it would silently tune nothing), or one on a field CloudTrail records do not have (it would
never match, so it would silently drop every alert it means to tune, or keep all of them) stops with the
file's name, here, for every verb that takes filters: check, build, convert and scan give the same verdict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.pipelines.cloudtrail import pysigma_compat
from sigma.pipelines.cloudtrail.common import detection_fields
from sigma.pipelines.cloudtrail.schema import is_cloudtrail_field

from .local_values import SigmaValues, check_values, parse_values
from .pack import Pack, PackError, read_source, shown, source_files


@dataclass(frozen=True)
class LocalFilter:
    """One filter and the file it came from."""

    filter: SigmaFilter | SigmaValues  # either has apply_on_rule(rule), id and title
    path: Path  # as the user gave it, for messages
    name: str  # the file's path below the filters folder, for the manifest (no machine's path)

    @property
    def id(self) -> str:
        return str(self.filter.id)

    @property
    def title(self) -> str:
        return self.filter.title


def load_filters(folder: Path | str, pack: Pack) -> tuple[LocalFilter, ...]:
    """Every filter in `*.yml` files under `folder`, in path order, each checked against the pack."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PackError(shown(folder), "filters folder not found")
    out: list[LocalFilter] = []
    for path in source_files(folder):
        out.extend(_load_file(path, path.relative_to(folder).as_posix(), pack))
    if not out:
        raise PackError(shown(folder), "no Sigma filters (*.yml with a `filter:` section) found")
    seen: dict[str, LocalFilter] = {}
    for f in out:
        if f.id in seen:
            raise PackError(shown(f.path), f"duplicate filter id {f.id} (also in {shown(seen[f.id].path)})")
        seen[f.id] = f
    return tuple(out)


def _load_file(path: Path, name: str, pack: Pack) -> list[LocalFilter]:
    where = shown(path)
    text = read_source(path, "filter file")
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PackError(where, f"invalid YAML: {e.problem or e.context}; fix the YAML syntax", mark.line + 1 if mark else None) from e
    if any(isinstance(d, dict) and "values" in d for d in documents):
        return _load_values(documents, path, name, pack)
    if any(isinstance(d, dict) and "filter" not in d for d in documents):
        raise PackError(
            where,
            "a filters folder holds only Sigma filters (documents with a `filter:` section) and local values (a `values:` "
            "section, each file all of one kind); put rules in the rules folder",
        )
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=False, collect_filters=True, source=SigmaRuleLocation(where))
    except SigmaError as e:
        raise PackError(where, f"{e.args[0] if e.args else e}; fix the filter so that it follows the Sigma filters specification") from e
    loaded = []
    for sigma_filter in collection.filters:
        logsource = sigma_filter.logsource
        if (logsource.product, logsource.service) != ("aws", "cloudtrail"):
            raise PackError(where, f"filter {sigma_filter.title!r} is for logsource {logsource.product}/{logsource.service}; the pack's rules are aws/cloudtrail")
        rules = sigma_filter.filter.rules
        if isinstance(rules, list):
            unknown = [ref.reference for ref in rules if not _names_a_rule(pack, ref.reference)]
            if unknown:
                raise PackError(where, f"filter {sigma_filter.title!r} names {', '.join(map(repr, unknown))}, no rule of the pack (give a rule id or name)")
        _check_fields(sigma_filter, where)
        _check_condition(sigma_filter, pack, where)
        loaded.append(LocalFilter(sigma_filter, path, name))
    return loaded


def _load_values(documents: list, path: Path, name: str, pack: Pack) -> list[LocalFilter]:
    """A file of local values documents (local_values.py), each checked against the pack and the CloudTrail schema."""
    where = shown(path)
    loaded = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict) or "values" not in document:
            raise PackError(where, "a local values file holds only documents with a `values:` section; put filters in a file of their own")
        values = parse_values(document, where)
        unknown = sorted({field for _, field, _ in values.additions if not is_cloudtrail_field(field)})
        if unknown:
            raise PackError(where, f"local values {values.title!r}: field(s) {', '.join(unknown)} do not exist in CloudTrail records")
        check_values(values, pack.rules, where, pysigma_compat.detached_copy)
        loaded.append(LocalFilter(values, path, name))
    return loaded


def _check_fields(sigma_filter: SigmaFilter, where: Path) -> None:
    """The filter's fields against the CloudTrail schema, as every target's pipeline checks a rule's
    (`RejectUnknownFieldsTransformation`), so that no verb accepts what another refuses."""
    fields = detection_fields(SimpleNamespace(detection=sigma_filter.filter))  # a filter's detections, as a rule's
    unknown = sorted({name for name in fields if not is_cloudtrail_field(name)})
    if unknown:
        raise PackError(
            where,
            f"filter {sigma_filter.title!r}: field(s) {', '.join(unknown)} do not exist in CloudTrail records; use "
            "CloudTrail's field names (e.g. userIdentity.arn, userIdentity.sessionContext.sessionIssuer.arn)",
        )


def _check_condition(sigma_filter: SigmaFilter, pack: Pack, where: Path) -> None:
    """Apply the filter to a copy of a rule it names and parse the result, so that a broken filter
    condition is reported on the filter's file, not later on every rule it touches."""
    for pack_rule in pack.rules:
        rule = pysigma_compat.detached_copy(pack_rule.rule)
        try:
            copy.deepcopy(sigma_filter).apply_on_rule(rule)
            if rule.detection.condition != pack_rule.rule.detection.condition:
                for condition in rule.detection.parsed_condition:
                    condition.parsed  # noqa: B018 - parsing is the check
                return
        except (SigmaError, AttributeError) as e:
            raise PackError(where, f"filter {sigma_filter.title!r}: {e.args[0] if e.args else e}; fix its condition") from e
        except Exception as e:  # pySigma reports condition syntax errors with other exception types too
            raise PackError(where, f"filter {sigma_filter.title!r}: invalid condition ({e}); fix its condition") from e


def _names_a_rule(pack: Pack, reference: str) -> bool:
    return any(reference in (r.id, r.rule.name) for r in pack.rules)


def apply_filters(rules: list, filters: tuple[LocalFilter, ...]) -> None:
    """Apply each filter to the rule copies it names, in place (pySigma's `SigmaFilter.apply_on_rule`).

    Each rule gets its own copy of each filter's detections: processing pipelines change detections while
    converting a rule, so a detection shared between two rules would be converted twice."""
    for rule in rules:
        for local in filters:
            copy.deepcopy(local.filter).apply_on_rule(rule)
