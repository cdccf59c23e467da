"""`check`: every rule check, the version lock and every compilation; writes nothing."""

from __future__ import annotations

import click

from .output import print_matrix


@click.command("check", short_help="run the rule checks, the version lock and every compilation; write nothing")
@click.pass_obj
def command(project) -> int:
    """Run the rule checks, the version lock and every compilation; write nothing."""
    from ..attack import use_local_attack_data
    from ..pack import load_pack
    from ..release import prepare
    from ..validation import findings

    use_local_attack_data()
    pack = load_pack(project.rules_dir, project)
    problems = findings(pack)
    for line in problems:
        click.echo(line)
    if problems:
        return 1
    release = prepare(pack)  # compiles every rule for every target once, then checks the version lock
    print_matrix(pack, release.matrix())
    click.echo(f"\n{len(pack.rules)} rules: rule checks clean, versions locked, compiled for every target (n/a: refused, with the reason)")
    return 0
