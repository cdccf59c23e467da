"""`build`: check, compile every rule for every target, write the release folder atomically."""

from __future__ import annotations

from pathlib import Path

import click

from .output import print_matrix


@click.command("build", short_help="check, compile every rule for every target, write dist/ atomically")
@click.option("--dist", type=click.Path(file_okay=False, path_type=Path), help="Release folder (default: <root>/dist).")
@click.pass_obj
def command(project, dist: Path | None) -> int:
    """Check, compile every rule for every target, write dist/ atomically."""
    from ..attack import use_local_attack_data
    from ..pack import load_pack
    from ..release import build

    use_local_attack_data()
    pack = load_pack(project.rules_dir, project)
    dist = dist or project.dist
    result = build(pack, dist)
    print_matrix(pack, result.matrix)
    click.echo(f"\nbuilt {len(result.files)} files into {_shown(dist)}/ (pack version {result.version})")
    return 0


def _shown(path: Path) -> str:
    from ..pack import shown

    return str(shown(path))
