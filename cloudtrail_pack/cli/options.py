"""What several verbs share: loading the project's rules, and the --filters option."""

from __future__ import annotations

from pathlib import Path

import click

filters_option = click.option(
    "--filters",
    "filters_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of Sigma filters (local tuning) applied to the rules they name, e.g. filters/examples. "
    "Rule versions do not change.",
)


def project_pack(project):
    """The project's rules, loaded with pySigma pointed at the pack's offline reference data."""
    import sqlite3

    from ..attack import data_cache_error, use_local_attack_data
    from ..pack import load_pack

    try:
        use_local_attack_data()  # pySigma caches the data in SQLite files in the temporary folder
    except (OSError, sqlite3.Error) as e:
        raise data_cache_error(e) from e
    return load_pack(project.rules_dir, project)


def local_filters(pack, filters_dir: Path | None) -> tuple:
    """The filters of `--filters DIR`, loaded and checked against the pack (none without the option)."""
    if filters_dir is None:
        return ()
    from ..filters import load_filters

    return load_filters(filters_dir, pack)
