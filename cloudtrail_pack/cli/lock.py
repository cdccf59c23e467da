"""`lock`: record each rule's logic hash in version.lock.json, bumping changed rules, retiring removed ones."""

from __future__ import annotations

import click


@click.command("lock", short_help="record rule logic hashes in version.lock.json, bumping changed rules")
@click.pass_obj
def command(project) -> int:
    """Record rule logic hashes in version.lock.json, bumping changed rules."""
    from ..attack import use_local_attack_data
    from ..lock import update_lock
    from ..pack import load_pack

    use_local_attack_data()
    changes = update_lock(load_pack(project.rules_dir, project))
    for line in changes:
        click.echo(line)
    click.echo(f"{project.lock_file.name}: {len(changes)} change(s)")
    return 0
