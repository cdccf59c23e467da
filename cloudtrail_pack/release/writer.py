"""The contract between the release and its writers (cloudtrail_pack/artifacts/<writer>/).

A writer declares what it needs compiled (`NEEDS`: (target name, output format) pairs; a target's `default`
format is compiled for the build table whatever the writers need) and writes its files from a Release into the
empty folder it is given. It never compiles, never reads the lock, and never imports another writer: what writers
share is in `cloudtrail_pack/artifacts/common.py`. A writer is usually a module (the protocol is structural).

The registry (`cloudtrail_pack/registry.py`) lists the writers and the targets; the release is handed both,
and derives from them what to compile (`formats`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol, runtime_checkable

from ..errors import PackError
from ..targets import Target

if TYPE_CHECKING:
    from .context import Release

#: One thing to compile: a target (by its registry name) and one of its backend's output formats.
Need = tuple[str, str]


@runtime_checkable
class Writer(Protocol):
    """What every release writer provides."""

    #: What the writer reads from the release's compilation: (target name, output format) pairs.
    NEEDS: tuple[Need, ...]

    def write(self, release: "Release", out: Path) -> None:
        """Write this writer's files into `out` (an empty folder of its own, e.g. dist/splunk/); PackError naming
        the rule (or data file) that cannot be written, with what to change."""


def formats(targets: Mapping[str, Target], writers: Mapping[str, Writer]) -> list[tuple[Target, str]]:
    """Every (target, output format) a release compiles: each target's table format (the build table), then
    what each writer NEEDS, in that order, each once. PackError if a writer needs a target the table lacks."""
    out = [(target, target.table_format) for target in targets.values()]
    for name, writer in writers.items():
        for target_name, output_format in writer.NEEDS:
            if target_name not in targets:
                raise PackError(name, f"the {name} writer needs the target {target_name!r}, which the registry does not list")
            out.append((targets[target_name], output_format))
    return list(dict.fromkeys(out))
