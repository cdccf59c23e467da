"""`check`: every rule check, the version lock and every compilation; writes nothing."""

from __future__ import annotations

import click

from .options import filters_option, local_filters, project_pack
from .output import print_matrix


@click.command("check", short_help="run the rule checks, the version lock and every compilation; write nothing")
@filters_option
@click.pass_obj
def command(project, filters_dir) -> int:
    """Run the rule checks, the version lock and every compilation; write nothing."""
    from ..release import ReleaseOptions, prepare
    from ..validation import findings

    pack = project_pack(project)
    problems = findings(pack)
    for line in problems:
        click.echo(line)
    if problems:
        return 1
    options = ReleaseOptions(filters=local_filters(pack, filters_dir))
    release = prepare(pack, options)  # compiles every rule for every target once, then checks the version lock
    print_matrix(pack, release.matrix())
    click.echo(f"\n{len(pack.rules)} rules: rule checks clean, versions locked, compiled for every target (n/a: refused, with the reason)")
    return 0
