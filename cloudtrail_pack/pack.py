"""The rule pack as loaded from `sigma/`: every rule with the file it came from, in a stable order.

Loading is strict: a broken file, an unknown modifier or a duplicate id stops here with an error that
names the file and line, before any target sees the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Union

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

# PackError, read_source and shown live in errors.py (below project.py); imported from here too, as they always were.
from .errors import PackError, read_source, shown, source_files  # noqa: F401
from .project import LOCK_COMMAND, PACK_NAME, Project

AnyRule = Union[SigmaRule, SigmaCorrelationRule]

#: Where the rules are in a release (dist/) and in every artifact that names a rule's file: the same
#: whatever the rules folder is called or wherever it is.
RELEASE_RULES = PurePosixPath("sigma")


def pack_version() -> str:
    """The installed pack's version (a release takes its version from its Project instead)."""
    return metadata.version(PACK_NAME)


@dataclass(frozen=True)
class PackRule:
    """One Sigma rule (or correlation) of the pack and where it is written."""

    rule: AnyRule
    path: PurePosixPath  # in the release: sigma/<path below the rules folder>, e.g. sigma/iam/aws_iam_user_deleted.yml
    document: int  # index of the YAML document within the file
    source: Path = field(default=Path(), compare=False)  # the file it was read from, for messages
    #: None: no correlation counts the rule; else whether one that counts it has `generate: true` (see step_only)
    counted_by_generating: bool | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return str(self.rule.id)

    @property
    def name(self) -> str:
        return self.rule.name or self.path.stem

    @property
    def title(self) -> str:
        return self.rule.title

    @property
    def level(self) -> str:
        return self.rule.level.name.lower() if self.rule.level else "medium"

    @property
    def is_correlation(self) -> bool:
        return isinstance(self.rule, SigmaCorrelationRule)

    @property
    def step_only(self) -> bool:
        """True for a rule that exists only as a step of correlations: one or more correlations count it and none
        of them has `generate: true` (Sigma's correlation specification: `generate` says whether the rules a
        correlation refers to are also converted as stand-alone rules; by default they are not). Writers deploy
        no standalone alert for it; hunting queries (Athena, CloudTrail Lake) stay. Set by `load_pack`."""
        return self.counted_by_generating is False

    @property
    def slug(self) -> str:
        """A file- and search-name-safe identifier: the rule's name, else its file stem."""
        return (self.rule.name or self.path.stem).replace("-", "_")


@dataclass
class Pack:
    rules: list[PackRule]
    root: Path  # the rules folder
    collection: SigmaCollection = field(repr=False)
    project: Project | None = None

    def by_id(self, key: str) -> PackRule:
        """The rule with this id, name, or file name (without .yml) for a single-rule file."""
        for r in self.rules:
            if key in (r.id, r.rule.name):
                return r
        by_stem = [r for r in self.rules if r.path.stem == key]
        if len(by_stem) == 1:
            return by_stem[0]
        raise PackError(self.root, f"no rule {key!r} in the pack: give a rule id, name or file name (python build.py check lists them)")

    @property
    def version(self) -> str:
        """The pack's version: its project's (pyproject.toml), else the installed distribution's."""
        return self.project.version if self.project is not None else pack_version()

    def with_counted_rules(self, rules: list[PackRule]) -> list[PackRule]:
        """The rules, plus the rules their correlations count, in pack order: a correlation is compiled and
        evaluated with the rules it counts."""
        ids = {r.id for r in rules}
        for r in rules:
            if r.is_correlation:
                ids |= {str(ref.rule.id) for ref in r.rule.rules}
        return [r for r in self.rules if r.id in ids]

    def select(self, ids: list[str] | None) -> list[PackRule]:
        if not ids:
            return list(self.rules)
        return [self.by_id(i) for i in ids]


def _yaml_line(text: str) -> tuple[int | None, str]:
    """Parse every document with PyYAML to report syntax errors with their line."""
    try:
        list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return (mark.line + 1 if mark else None), f"invalid YAML: {e.problem or e.context}"
    return None, ""


def load_rule_file(path: Path, root: Path) -> list[PackRule]:
    release_path = RELEASE_RULES.joinpath(*path.relative_to(root).parts)
    where = shown(path)
    text = read_source(path, "rule file")
    line, problem = _yaml_line(text)
    if problem:
        raise PackError(where, f"{problem}; fix the YAML syntax", line)
    if not text.strip() or all(doc is None for doc in yaml.safe_load_all(text)):
        raise PackError(where, f"the file holds no Sigma rule; restore the rule, or delete the file and run {LOCK_COMMAND} to retire it")
    try:
        # References are resolved across the whole pack (load_pack): a correlation may count rules of other files.
        collection = SigmaCollection.from_yaml(text, collect_errors=False, source=SigmaRuleLocation(where), resolve_references=False)
    except SigmaError as e:
        raise PackError(where, f"{e.args[0] if e.args else e}; fix the rule so that it follows the Sigma specification", _error_line(e)) from e
    for rule in collection.rules:
        for err in getattr(rule, "errors", []) or []:
            raise PackError(where, str(err.args[0] if err.args else err), _error_line(err))
    return [PackRule(rule, release_path, i, path) for i, rule in enumerate(collection.rules)]


def _error_line(e: Exception) -> int | None:
    source = getattr(e, "source", None)
    return getattr(source, "line", None) if source else None


def load_pack(root: Path | str | None = None, project: Project | None = None) -> Pack:
    """Load every `*.yml` under the rules folder `root` (default: the project's): base rules first, then
    correlations, each in path order. `project` (default: the one holding `root`) owns lock and changelog."""
    if root is None:
        project = project or Project.find()
        root = project.rules_dir
    root = Path(root).absolute()
    project = project or Project.find(root)
    if not root.is_dir():
        raise PackError(shown(root), "rules folder not found")
    rules: list[PackRule] = []
    for path in source_files(root):
        rules.extend(load_rule_file(path, root))
    if not rules:
        raise PackError(shown(root), "no Sigma rules (*.yml) found")
    _check_unique(rules)
    _check_references(rules)
    rules.sort(key=lambda r: (r.is_correlation, str(r.path), r.document))
    rules = _with_generation(rules)
    try:
        collection = SigmaCollection([r.rule for r in rules])  # resolves the references across the pack
        collection.resolve_rule_references()
    except SigmaError as e:
        raise PackError(_error_path(e, root), f"{e.args[0] if e.args else e}; a correlation must name rules of the pack", _error_line(e)) from e
    return Pack(rules=rules, root=root, collection=collection, project=project)


def _with_generation(rules: list[PackRule]) -> list[PackRule]:
    """The rules, each base rule told whether a correlation counts it and whether one of those has `generate: true`
    (PackRule.step_only): the pack reads Sigma's `generate` as the union over the correlations, where pySigma 1.5.1
    hides a rule that any `generate: false` correlation references."""
    known = {r.id: r.id for r in rules} | {r.rule.name: r.id for r in rules if r.rule.name}
    generating: dict[str, bool] = {}
    for r in rules:
        if r.is_correlation:
            for ref in r.rule.rules or []:
                rule_id = known[ref.reference]
                generating[rule_id] = generating.get(rule_id, False) or bool(r.rule.generate)
    return [replace(r, counted_by_generating=generating.get(r.id)) if not r.is_correlation else r for r in rules]


def _error_path(e: Exception, root: Path) -> Path:
    source = getattr(e, "source", None)
    return Path(source.path) if source and getattr(source, "path", None) else shown(root)


def _check_references(rules: list[PackRule]) -> None:
    """Every rule a correlation names is a rule of the pack (by id or name), reported at the correlation's file."""
    known = {r.id for r in rules} | {r.rule.name for r in rules if r.rule.name}
    for r in rules:
        if not r.is_correlation:
            continue
        names = [ref.reference for ref in r.rule.rules or []]
        names += getattr(r.rule.condition, "get_referenced_rules", list)()
        for name in names:
            if name not in known:
                raise PackError(
                    shown(r.source),
                    f"Rule '{name}' not found in rule collection; a correlation must name rules of the pack",
                    _error_line(r.rule),
                )


def _check_unique(rules: list[PackRule]) -> None:
    seen_ids: dict[str, PackRule] = {}
    seen_names: dict[str, PackRule] = {}
    for r in rules:
        if r.rule.id is None:
            raise PackError(shown(r.source), f"rule {r.title!r} has no id; add a UUID (python -c 'import uuid; print(uuid.uuid4())')")
        if r.id in seen_ids:
            raise PackError(shown(r.source), f"duplicate rule id {r.id} (also in {shown(seen_ids[r.id].source)}); give each rule its own UUID")
        seen_ids[r.id] = r
        if r.rule.name:
            if r.rule.name in seen_names:
                raise PackError(shown(r.source), f"duplicate rule name {r.rule.name!r} (also in {shown(seen_names[r.rule.name].source)})")
            seen_names[r.rule.name] = r
