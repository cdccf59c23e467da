"""`build`: check, compile every rule for every target, write the release folder atomically."""

from __future__ import annotations

from pathlib import Path

import click

from .options import filters_option, local_filters, project_pack
from .output import print_matrix


@click.command("build", short_help="check, compile every rule for every target, write dist/ atomically")
@click.option("--dist", type=click.Path(file_okay=False, path_type=Path), help="Release folder (default: <root>/dist).")
@click.option(
    "--elastic-index",
    "elastic_index",
    multiple=True,
    metavar="PATTERN",
    help="Index pattern the Elastic rules search; repeat for several. Giving any replaces the default "
    "logs-aws.cloudtrail-* (Filebeat AWS module: --elastic-index logs-aws.cloudtrail-* --elastic-index filebeat-*).",
)
@filters_option
@click.pass_obj
def command(project, dist: Path | None, elastic_index: tuple[str, ...], filters_dir: Path | None) -> int:
    """Check, compile every rule for every target, write dist/ atomically."""
    from ..artifacts.elastic import checked_index_patterns
    from ..registry import TARGETS, WRITERS
    from ..release import ReleaseOptions, build

    index = ReleaseOptions().elastic_index
    if elastic_index:
        try:
            index = checked_index_patterns(elastic_index)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--elastic-index") from None
    pack = project_pack(project)
    options = ReleaseOptions(elastic_index=index, filters=local_filters(pack, filters_dir))
    dist = dist or project.dist
    result = build(pack, dist, options, targets=TARGETS, writers=WRITERS)
    print_matrix(pack, result.matrix)
    click.echo(f"\nbuilt {len(result.files)} files into {_shown(dist)}/ (pack version {result.version})")
    return 0


def _shown(path: Path) -> str:
    from ..pack import shown

    return str(shown(path))
