"""`lock`: record each rule's logic hash in version.lock.json, bumping changed rules, retiring removed ones."""

from __future__ import annotations

import click

from .options import project_pack


@click.command("lock", short_help="record rule logic hashes in version.lock.json, bumping changed rules")
@click.pass_obj
def command(project) -> int:
    """Record rule logic hashes in version.lock.json, bumping changed rules."""
    from ..lock import update_lock

    changes = update_lock(project_pack(project))
    for line in changes:
        click.echo(line)
    click.echo(f"{project.lock_file.name}: {len(changes)} change(s)")
    return 0
