"""Rule checks: pySigma's and SigmaHQ's validators, configured by the project's `validation.yml`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sigma.plugins import InstalledSigmaPlugins
from sigma.validation import SigmaValidator

from .attack import data_cache_error, use_local_attack_data
from .pack import Pack, PackError, read_source, shown


def validator(config: Path) -> SigmaValidator:
    use_local_attack_data()
    validators = InstalledSigmaPlugins.autodiscover().validators
    text = read_source(config, "rule checks' configuration")
    return SigmaValidator.from_yaml(text, validators)


def findings(pack: Pack, config: Path | None = None) -> list[str]:
    """One line per finding, `file: validator: description (details)`; empty when the pack is clean."""
    if config is None:
        if pack.project is None:
            raise PackError(shown(pack.root), "no project for this rules folder: give the validation config")
        config = pack.project.validation_config
    by_id = {r.id: r for r in pack.rules}
    lines = []
    try:
        issues = validator(config).validate_rules([r.rule for r in pack.rules])
    except sqlite3.Error as e:
        raise data_cache_error(e) from e
    for issue in issues:
        details = {k: v for k, v in vars(issue).items() if k not in ("rules", "severity")}
        for rule in issue.rules:
            where = shown(by_id[str(rule.id)].source) if str(rule.id) in by_id else rule.title
            name = type(issue).__name__.removesuffix("Issue")
            lines.append(f"{where}: {name}: {issue.description} {details or ''}".rstrip())
    return sorted(lines)


