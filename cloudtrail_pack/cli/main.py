"""The command group and how every command ends.

Exit codes (`exits.py`): 0 done; 1 the project's sources are wrong (the message names the file and
line); 2 a usage error, or `scan` skipped some input; 74 standard output cannot be written (a full disk,
an I/O error: EX_IOERR of sysexits.h, with one line saying why); 130 interrupted (Ctrl-C: 128 + SIGINT);
141 the reader of our output went away (`... | head -1`: 128 + SIGPIPE, as a shell reports a process
that SIGPIPE ended); 143 terminated (`kill`: 128 + SIGTERM; `scan` prints its summary first, as for
Ctrl-C). None of these prints a traceback. What a verb printed is flushed before the command returns, so
a full disk is reported even for output that fitted in Python's buffer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import PackError
from ..project import Project
from .exits import EXIT_INTERRUPTED, EXIT_SOURCES, OutputError, guard_stdout


#: Each verb's module (the module per verb: build, check, ...), imported when that verb runs (or for
#: --help): `scan` starts without the others' imports.
VERBS = {"build": "build", "check": "check", "lock": "lock", "convert": "convert", "scan": "scan",
         "new-rule": "new_rule"}


class _Group(click.Group):
    """Turns Ctrl-C, SIGTERM and standard output that fails into exit codes before click's own handling
    (which would print "Aborted!" or exit 1); loads a verb's module when the verb is asked for."""

    def list_commands(self, ctx):
        return sorted(VERBS)

    def get_command(self, ctx, name):
        module = VERBS.get(name)
        if module is None:
            return None
        from importlib import import_module

        return import_module(f"{__package__}.{module}").command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise click.exceptions.Exit(getattr(e, "exit_status", EXIT_INTERRUPTED)) from None
        except OutputError as e:
            raise click.exceptions.Exit(_output_failed(e)) from None
        except BrokenPipeError as e:
            raise click.exceptions.Exit(_output_failed(OutputError(e))) from None


def _output_failed(e: OutputError) -> int:
    """One line (none for a closed pipe: the reader went away on purpose) and the exit status."""
    _silence_stdout()
    if not e.closed:
        try:
            click.echo(f"error: cannot write to standard output: {e.reason}", err=True)
        except OSError:
            pass
    return e.status


def _silence_stdout() -> None:
    """Point stdout at /dev/null: Python's final flush would otherwise fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder: rules (sigma/), version.lock.json, validation.yml, CHANGELOG.md, dist/. "
    "Default: the nearest such folder at or above the working directory (build.py: its own folder).",
)
@click.option(
    "--rules-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Rules folder, if not the project's sigma/.",
)
@click.pass_context
def cli(ctx: click.Context, root: Path | None, rules_dir: Path | None) -> None:
    """The CloudTrail detection pack: check the rules, lock their versions, convert one rule, build the
    release (dist/), and backtest the rules over CloudTrail files (scan)."""
    default_root = ctx.obj  # build.py passes the repository it lives in
    if root is not None:
        ctx.obj = Project.at(root, rules_dir)
    elif default_root is not None:
        ctx.obj = Project.at(default_root, rules_dir)
    else:
        ctx.obj = Project.find(rules_dir=rules_dir)


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """Run a command; returns its exit code (see the module docstring)."""
    guard_stdout()
    code = _run(argv, root)
    try:
        sys.stdout.flush()  # what the verb printed and Python still holds: its failure is the output's
    except OSError as e:
        return _output_failed(OutputError(e))
    return code


def _run(argv: list[str] | None, root: Path | None) -> int:
    try:
        code = cli.main(args=argv, prog_name=_prog_name(root), obj=root, standalone_mode=False)
    except PackError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_SOURCES
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        return EXIT_INTERRUPTED
    except OutputError as e:  # click's own output (--help, usage) could not be written
        return _output_failed(e)
    return code if isinstance(code, int) else 0


def _prog_name(root: Path | None) -> str:
    return "build.py" if root is not None else "cloudtrail-pack"


def entry_point() -> None:
    """The `cloudtrail-pack` console script."""
    sys.exit(main())
