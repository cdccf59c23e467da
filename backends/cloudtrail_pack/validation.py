"""Rule checks: pySigma's and SigmaHQ's validators, configured by `validation.yml` at the repository root."""

from __future__ import annotations

from pathlib import Path

from sigma.plugins import InstalledSigmaPlugins
from sigma.validation import SigmaValidator

from .attack import use_local_attack_data
from .pack import REPO_ROOT, Pack

CONFIG = REPO_ROOT / "validation.yml"


def validator(config: Path = CONFIG) -> SigmaValidator:
    use_local_attack_data()
    validators = InstalledSigmaPlugins.autodiscover().validators
    return SigmaValidator.from_yaml(config.read_text(encoding="utf-8"), validators)


def findings(pack: Pack, config: Path = CONFIG) -> list[str]:
    """One line per finding, `file: validator: description (details)`; empty when the pack is clean."""
    by_id = {r.id: r for r in pack.rules}
    lines = []
    for issue in validator(config).validate_rules([r.rule for r in pack.rules]):
        details = {k: v for k, v in vars(issue).items() if k not in ("rules", "severity")}
        for rule in issue.rules:
            where = by_id[str(rule.id)].path if str(rule.id) in by_id else rule.title
            name = type(issue).__name__.removesuffix("Issue")
            lines.append(f"{where}: {name}: {issue.description} {details or ''}".rstrip())
    return sorted(lines)
