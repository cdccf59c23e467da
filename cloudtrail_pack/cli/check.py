"""`check`: everything `build` does but put the release in place: the rule checks, every compilation, the
version lock, and every writer's refusals (the release is rendered into a scratch folder, then deleted)."""

from __future__ import annotations

import click

from .options import filters_option, local_filters, project_pack
from .output import print_matrix


@click.command("check", short_help="run every check build runs (rules, lock, compilations, writers); write nothing")
@filters_option
@click.pass_obj
def command(project, filters_dir) -> int:
    """Run every check build runs (rules, lock, compilations, writers); write nothing."""
    from ..registry import TARGETS, WRITERS
    from ..release import ReleaseOptions
    from ..release.build import RuleChecksFailed, checked_release, rendered

    pack = project_pack(project)
    options = ReleaseOptions(filters=local_filters(pack, filters_dir))
    try:
        release = checked_release(pack, options, targets=TARGETS, writers=WRITERS)
    except RuleChecksFailed as e:
        for line in e.problems:
            click.echo(line)
        return 1
    rendered(release, WRITERS)
    print_matrix(pack, release.matrix())
    click.echo(f"\n{len(pack.rules)} rules: rule checks clean, versions locked, compiled for every target (n/a: refused, with the reason)")
    return 0
