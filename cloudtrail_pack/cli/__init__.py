"""`cloudtrail-pack`, the pack's command line: one module per verb, and `build.py` in the repository
as a thin wrapper. See `main.py` for how errors, Ctrl-C and closed pipes end a command."""

from .main import cli, main

__all__ = ["cli", "main"]
