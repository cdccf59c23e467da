"""`convert`: one rule compiled for one target, as the release compiles it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .exits import echo
from .options import filters_option, local_filters, project_pack


class TargetName(click.ParamType):
    """A target of the registry, which is read only when `convert` runs or shows its help: importing it loads every
    writer, and the other verbs' start-up (scan's above all) has no use for them."""

    name = "target"

    @staticmethod
    def names() -> list[str]:
        from ..registry import TARGETS

        return sorted(TARGETS)

    def get_metavar(self, param, ctx=None) -> str:
        return "{" + "|".join(self.names()) + "}"

    def convert(self, value, param, ctx):
        if value in self.names():
            return value
        self.fail(f"{value!r} is not one of {', '.join(map(repr, self.names()))}.", param, ctx)


@click.command("convert", short_help="print one rule compiled for one target")
@click.argument("rule")
@click.argument("target", type=TargetName())
@click.option("--format", "output_format", default="default", show_default=True, help="Backend output format.")
@filters_option
@click.pass_obj
def command(project, rule: str, target: str, output_format: str, filters_dir) -> int:
    """Print RULE (an id, name, file name or path of its file) compiled for TARGET."""
    from ..compilation import compile_rules
    from ..pack import PackError, shown
    from ..registry import TARGETS

    pack = project_pack(project)
    if Path(rule).is_file():
        matches = [r for r in pack.rules if r.source.resolve() == Path(rule).resolve()]
        if not matches:
            raise PackError(shown(Path(rule)), f"not a rule of the pack in {shown(pack.root)}")
        chosen = matches[0]
    else:
        chosen = pack.by_id(rule)
    filters = local_filters(pack, filters_dir)
    for queries in compile_rules(pack, TARGETS[target], output_format, rules=[chosen], filters=filters).values():
        for query in queries:
            echo(query if isinstance(query, str) else json.dumps(query, indent=2, sort_keys=True))
    return 0
