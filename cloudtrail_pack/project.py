"""The project a command works on: one root folder that holds the rules, their version lock, the rule
checks' configuration, the changelog and the release folder.

Everything is resolved from the root (never from where this package is installed), so a content
repository of one's own (`--root`) or a rules folder elsewhere (`--rules-dir`) brings its own lock and
changelog with it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import PackError, read_source

PACK_NAME = "cloudtrail-detection-pack"  # the distribution in pyproject.toml, whose version is the pack's

#: How messages tell a user to update the version lock.
LOCK_COMMAND = "`cloudtrail-pack lock` (in the repository: `python build.py lock`)"

#: Files that mark a folder as a project root (the first found, walking up from the working directory).
MARKERS = ("version.lock.json", "pyproject.toml")


@dataclass(frozen=True)
class Project:
    root: Path
    rules_dir: Path

    @classmethod
    def at(cls, root: Path | str, rules_dir: Path | str | None = None) -> "Project":
        root = Path(root).absolute()
        return cls(root, Path(rules_dir).absolute() if rules_dir is not None else root / "sigma")

    @classmethod
    def find(cls, start: Path | str | None = None, rules_dir: Path | str | None = None) -> "Project":
        """The nearest folder at or above `start` (default: the working directory) with a rules folder
        and a lock or pyproject.toml; `start` itself if there is none (commands then say what is missing)."""
        here = Path(start or Path.cwd()).absolute()
        for folder in (here, *here.parents):
            if (folder / "sigma").is_dir() and any((folder / m).is_file() for m in MARKERS):
                return cls.at(folder, rules_dir)
        return cls.at(here, rules_dir)

    @property
    def lock_file(self) -> Path:
        return self.root / "version.lock.json"

    @property
    def validation_config(self) -> Path:
        return self.root / "validation.yml"

    @property
    def changelog(self) -> Path:
        return self.root / "CHANGELOG.md"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def version(self) -> str:
        """The pack's version: `[project].version` of the root's pyproject.toml (what is being released,
        even before it is reinstalled), else the installed distribution's."""
        pyproject = self.root / "pyproject.toml"
        if pyproject.exists():
            try:
                version = _toml().loads(read_source(pyproject, "pyproject.toml")).get("project", {}).get("version")
            except _toml().TOMLDecodeError as e:
                raise PackError(pyproject, f"invalid TOML ({e})") from e
            if version:
                return str(version)
        from importlib import metadata  # not at import: `scan` starts without it

        return metadata.version(PACK_NAME)


def _toml():
    """tomllib, imported when a version is read (not by every command's start)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib
