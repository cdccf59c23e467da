"""The release pipeline: check, compile every rule for every target once, let the writers write, and put
the result in place of `dist/` atomically.

Everything lands in a staging folder beside `dist/`, which replaces `dist/` only when the whole build
succeeded, so a failed build leaves the previous release untouched. `check` runs the same steps
(`checked_release`, `render`) but renders into a scratch folder, so the two refuse the same sources.

The targets and the writers are the caller's (the registry's, `cloudtrail_pack/registry.py`): this module
derives what to compile from them (`writer.formats`) and imports neither.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping

from ..attack import data_cache_error
from ..lock import logic_hash
from ..pack import PACK_NAME, Pack, PackError, read_source, shown
from ..targets import Target, plugin_distributions
from ..validation import findings
from . import destination
from .archive import tgz_bytes
from .context import Cell, Release, ReleaseOptions, prepare
from .publish import build_lock, replace_folder, staging_folder
from .writer import Writer, formats


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


#: What every target's queries are made with, whatever the targets: pySigma, and sigma-cli, which converts the
#: rules to the same text (`sigma convert -t <backend> -p <pipeline>`).
FRAMEWORK = ("pySigma", "sigma-cli")


def tool_versions(targets: Mapping[str, Target]) -> dict[str, str]:
    """The versions of what the release's queries depend on: the framework, and the distribution of each target's
    backend and pipeline (the pack's own plugin is the pack's version)."""
    names = {_spelled(n) for n in FRAMEWORK}
    for target in targets.values():
        names |= {_spelled(n) for n in plugin_distributions(target)}
    names.discard(_spelled(PACK_NAME))
    return {name: metadata.version(name) for name in sorted(names)}


def _spelled(name: str) -> str:
    """A distribution's name as pySigma spells its project and plugins (pySigma-backend-splunk): the metadata
    differ in letter case from one backend, and one release, to the next (pysigma-backend-splunk 2.1.0)."""
    normal = "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))
    return "pySigma" + normal[len("pysigma"):] if normal.startswith("pysigma") else normal


def checked_release(
    pack: Pack,
    options: ReleaseOptions | None = None,
    log: Callable[[str], None] = lambda m: None,
    *,
    targets: Mapping[str, Target],
    writers: Mapping[str, Writer],
) -> Release:
    """Steps 1 and 2 of a build, and of `check`: the rule checks, then every compilation the targets and the
    writers need, and the version lock. PackError (a RuleChecksFailed for the rule checks) on the first thing to fix."""
    log(f"[1/5] checking {len(pack.rules)} rules (pySigma + SigmaHQ validators)")
    problems = findings(pack)
    if problems:
        raise RuleChecksFailed(problems)
    log(f"[2/5] compiling for {', '.join(t.title for t in targets.values())}")
    return prepare(pack, formats(targets, writers), options)


class RuleChecksFailed(PackError):
    """The validators' findings, one line each (`check` prints them as they are)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(problems[0].split(":")[0], "rule checks failed:\n  " + "\n  ".join(problems))


def build(
    pack: Pack,
    dist: Path | None = None,
    options: ReleaseOptions | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    *,
    targets: Mapping[str, Target],
    writers: Mapping[str, Writer],
) -> BuildResult:
    """Check, compile for `targets` and `writers` (the registry's), write the release into a staging folder beside
    `dist`, and swap it in. `dist` must be new, empty or a previous release (destination.py): anything else is
    refused before anything is made."""
    given = Path(dist) if dist is not None else pack.project.dist
    dist = destination.checked(given, pack.root)
    existed, staging = os.path.lexists(dist), None
    try:
        with staging_folder(dist) as staging:  # first: a folder that cannot be written fails before compiling
            release = checked_release(pack, options, log, targets=targets, writers=writers)
            result = BuildResult(release.version, release.matrix())
            result.files = render(release, staging, writers, result, log)
            log(f"[5/5] replacing {shown(given)}")
            with build_lock(dist):
                problem = destination.release_problem(dist)  # again: another process may have been at it since
                if problem:
                    raise PackError(shown(given), problem)
                replace_folder(staging, dist)
    except OSError as e:  # a full disk, a read-only or pseudo file system: one line, and what is left as it was
        kept = "the previous release is kept" if existed and os.path.lexists(dist) else "nothing was written"
        raise PackError(shown(given), f"cannot write the release ({_reason(e, dist, staging)}); {kept}") from e
    except sqlite3.Error as e:
        raise data_cache_error(e) from e
    return result


def _reason(e: OSError, dist: Path, staging: Path | None) -> str:
    """The system's reason, with the path it concerns, except a file of the new release (deleted with it)."""
    reason = e.strerror or str(e)
    if not e.filename:
        return reason
    name = Path(os.path.abspath(e.filename))
    if staging is not None and (name == staging or staging in name.parents):
        return reason
    if name.parent == dist.parent and name.name.startswith(".dist-"):
        name = name.parent  # the staging folder that could not be made: where it would have been
    return f"{reason}: {shown(name)}"


def render(
    release: Release,
    out: Path,
    writers: Mapping[str, Writer],
    result: BuildResult | None = None,
    log: Callable[[str], None] = lambda m: None,
) -> list[str]:
    """Steps 3 and 4: every artifact, the changelog section, the manifest, the archives and SHA256SUMS, written
    into the empty folder `out`; the files written, relative to it. Every refusal a writer makes happens here,
    so `check`, which renders into a scratch folder, refuses exactly what `build` refuses."""
    version = release.version
    result = result or BuildResult(version, release.matrix())
    log("[3/5] writing artifacts")
    groups = write_artifacts(release, out, writers)
    log("[4/5] writing manifest, changelog, archives")
    (out / "CHANGELOG.md").write_text(changelog_section(version, release.pack.project.changelog), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest(release, result, groups, out), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    archives = out / "archives"
    archives.mkdir()
    for name, paths in sorted(groups.items()):
        deterministic_tar(archives / f"{PACK_NAME}-{version}-{name}.tar.gz", out, paths, f"{PACK_NAME}-{version}/{name}")
    everything = [p for p in out.rglob("*") if p.is_file() and archives not in p.parents]
    deterministic_tar(archives / f"{PACK_NAME}-{version}.tar.gz", out, everything, f"{PACK_NAME}-{version}")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    sums = "".join(f"{_sha256(p)}  {p.relative_to(out).as_posix()}\n" for p in files)
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    return [p.relative_to(out).as_posix() for p in files] + ["SHA256SUMS"]


def rendered(release: Release, writers: Mapping[str, Writer]) -> list[str]:
    """`render` into a scratch folder that is deleted after: what `check` runs, so that it refuses what a build
    refuses. The files a build would write."""
    try:
        with tempfile.TemporaryDirectory(prefix="cloudtrail-pack-check-") as scratch:
            return render(release, Path(scratch), writers)
    except OSError as e:
        raise PackError(Path(tempfile.gettempdir()), f"cannot render the release in a scratch folder to check it ({e.strerror or e}); "
                        "free some space there, or point TMPDIR at a folder with room") from e


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
                "step_only": r.step_only,
                # True: deployed; a string: not deployed as an alert there, and why (refused, or a correlation step)
                "targets": {t: (c.reason if c.step else c.ok or c.reason) for t, c in sorted(result.matrix[r.id].items())},
            }
            for r in release.pack.rules
        ],
        "artifacts": {name: sorted(p.relative_to(staging).as_posix() for p in paths) for name, paths in sorted(groups.items())},
        "options": {
            "elastic_index": list(release.options.elastic_index),
            "filters": [{"id": f.id, "title": f.title, "file": f.name} for f in release.options.filters],
        },
        "tools": tool_versions(release.targets),
    }


def write_artifacts(release: Release, out: Path, writers: Mapping[str, Writer]) -> dict[str, list[Path]]:
    """Every artifact, grouped by the archive it goes into: each writer writes into a folder of its own name."""
    groups: dict[str, list[Path]] = {"sigma": write_rules(release, out)}
    for name, writer in writers.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        writer.write(release, folder)
        groups[name] = sorted(p for p in folder.rglob("*") if p.is_file())
    return groups
