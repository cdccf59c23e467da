"""The release pipeline: check, compile every rule for every target once, let the writers write, and put
the result in place of `dist/` atomically.

Everything lands in a staging folder beside `dist/`, which replaces `dist/` only when the whole build
succeeded, so a failed build leaves the previous release untouched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from ..lock import logic_hash
from ..pack import PACK_NAME, Pack, PackError, read_source, shown
from ..targets import TARGETS
from ..validation import findings
from .archive import tgz_bytes
from .context import Cell, Release, ReleaseOptions, prepare
from .publish import build_lock, replace_folder


@dataclass
class BuildResult:
    version: str
    matrix: dict[str, dict[str, Cell]] = field(default_factory=dict)  # rule id -> target -> cell
    files: list[str] = field(default_factory=list)


def write_rules(release: Release, out: Path) -> list[Path]:
    """The Sigma rules as released, byte for byte as in the rules folder, under sigma/."""
    written = []
    for path, source in sorted({(r.path, r.source) for r in release.pack.rules}):
        dest = out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        written.append(dest)
    return written


def deterministic_tar(out_file: Path, base: Path, members: list[Path], prefix: str) -> Path:
    """A reproducible .tar.gz of `members` (paths under `base`), stored under `prefix/`."""
    out_file.write_bytes(tgz_bytes({p.relative_to(base).as_posix(): p.read_bytes() for p in members}, prefix))
    return out_file


def changelog_section(version: str, changelog: Path) -> str:
    """The CHANGELOG section of this version; a release without one is an error."""
    if not changelog.exists():
        raise PackError(shown(changelog), "not found; a release describes its changes in the changelog")
    text = read_source(changelog, "changelog")
    lines, section = text.splitlines(), []
    for line in lines:
        if line.startswith("## "):
            if section:
                break
            if line[3:].split()[0].strip("[]") == version:
                section.append(line)
        elif section:
            section.append(line)
    if not section:
        raise PackError(shown(changelog), f"no '## {version}' section; describe the release before building it")
    return "\n".join(section).strip() + "\n"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tool_versions() -> dict[str, str]:
    names = ["pySigma", "pySigma-backend-splunk", "pySigma-backend-elasticsearch", "sigma-cli"]
    return {n: metadata.version(n) for n in names}


def build(
    pack: Pack,
    dist: Path | None = None,
    options: ReleaseOptions | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> BuildResult:
    dist = Path(dist) if dist is not None else pack.project.dist
    log(f"[1/5] checking {len(pack.rules)} rules (pySigma + SigmaHQ validators)")
    problems = findings(pack)
    if problems:
        raise PackError(problems[0].split(":")[0], "rule checks failed:\n  " + "\n  ".join(problems))
    log(f"[2/5] compiling for {', '.join(t.title for t in TARGETS.values())}")
    release = prepare(pack, options)
    result = BuildResult(release.version, release.matrix())
    with build_lock(dist):
        return _write_release(release, dist, result, log)


def _write_release(release: Release, dist: Path, result: BuildResult, log) -> BuildResult:
    version = release.version
    staging = Path(tempfile.mkdtemp(prefix=".dist-", dir=dist.parent))
    try:
        log("[3/5] writing artifacts")
        groups = write_artifacts(release, staging)
        log("[4/5] writing manifest, changelog, archives")
        (staging / "CHANGELOG.md").write_text(changelog_section(version, release.pack.project.changelog), encoding="utf-8")
        (staging / "manifest.json").write_text(json.dumps(manifest(release, result, groups, staging), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        archives = staging / "archives"
        archives.mkdir()
        for name, paths in sorted(groups.items()):
            deterministic_tar(archives / f"{PACK_NAME}-{version}-{name}.tar.gz", staging, paths, f"{PACK_NAME}-{version}/{name}")
        everything = [p for p in staging.rglob("*") if p.is_file() and archives not in p.parents]
        deterministic_tar(archives / f"{PACK_NAME}-{version}.tar.gz", staging, everything, f"{PACK_NAME}-{version}")
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        sums = "".join(f"{_sha256(p)}  {p.relative_to(staging).as_posix()}\n" for p in files)
        (staging / "SHA256SUMS").write_text(sums, encoding="utf-8")
        result.files = [p.relative_to(staging).as_posix() for p in files] + ["SHA256SUMS"]
        log(f"[5/5] replacing {shown(dist)}")
        replace_folder(staging, dist)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def manifest(release: Release, result: BuildResult, groups: dict[str, list[Path]], staging: Path) -> dict:
    return {
        "pack": PACK_NAME,
        "version": release.version,
        "rules": [
            {
                "id": r.id,
                "name": r.name,
                "title": r.title,
                "level": r.level,
                "version": release.rule_versions[r.id],
                "sha256": logic_hash(r),
                "file": r.path.as_posix(),
                "targets": {t: (c.ok or c.reason) for t, c in sorted(result.matrix[r.id].items())},
            }
            for r in release.pack.rules
        ],
        "artifacts": {name: sorted(p.relative_to(staging).as_posix() for p in paths) for name, paths in sorted(groups.items())},
        "options": {
            "elastic_index": list(release.options.elastic_index),
            "filters": [{"id": f.id, "title": f.title, "file": f.name} for f in release.options.filters],
        },
        "tools": tool_versions(),
    }


def write_artifacts(release: Release, out: Path) -> dict[str, list[Path]]:
    """Every artifact, grouped by the archive it goes into."""
    from ..artifacts import WRITERS

    groups: dict[str, list[Path]] = {"sigma": write_rules(release, out)}
    for name, writer in WRITERS.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        writer.write(release, folder)
        groups[name] = sorted(p for p in folder.rglob("*") if p.is_file())
    return groups
