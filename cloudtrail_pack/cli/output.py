"""What `build` and `check` print: the rules × targets table, and why a rule is not available somewhere."""

from __future__ import annotations

import click


def label(cell) -> str:
    """ok; step (compiled, deployed as a correlation step only: no alert of its own, the note below the table says
    why); n/a (the target cannot express the rule); n/a:filter (it can, but not with the local filters applied: the
    note below the table names the filter)."""
    if cell.ok:
        return "step" if cell.step else "ok"
    return "n/a:filter" if cell.filters else "n/a"


def print_matrix(pack, matrix) -> None:
    """`matrix`: rule id -> target name -> Cell, the targets in the registry's order (Release.matrix)."""
    names = list(dict.fromkeys(n for r in pack.rules for n in matrix[r.id]))
    width = max(len(r.title) for r in pack.rules)
    level = max(len("level"), *(len(r.level) for r in pack.rules)) + 2
    column = {n: max(12, len(n) + 2) for n in names}
    click.echo((f"{'rule':<{width}}  {'level':<{level}}" + "".join(f"{n:<{column[n]}}" for n in names)).rstrip())
    for r in pack.rules:
        cells = "".join(f"{label(matrix[r.id][n]):<{column[n]}}" for n in names)
        click.echo(f"{r.title:<{width}}  {r.level:<{level}}{cells}".rstrip())
    notes = {(n, c.reason) for r in pack.rules for n, c in matrix[r.id].items() if not c.ok}
    for n, reason in sorted(notes):
        click.echo(f"  n/a {n}: {reason}")
    steps = sorted({n for r in pack.rules for n, c in matrix[r.id].items() if c.step}, key=names.index)
    if steps:
        reason = next(c.reason for r in pack.rules for c in matrix[r.id].values() if c.step)
        click.echo(f"  step {', '.join(steps)}: {reason}")
