"""The contract of a scan engine: what `cloudtrail-pack scan` needs of the default engine (`scan.py`, this
machine's worker processes) and of the Spark engine (`engine/spark.py`), so the command picks one from a
table and treats both alike.

An engine is built from the pack and the options (`Options`), says which options and inputs it cannot take
(`usage_error`, checked before anything is read), and yields its reports (`results.Match`, then
`results.Alert`) while counting in a `results.Summary`; closing the iterator ends the engine's own work
(workers, a Spark job's state) before the summary is printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Generator, Protocol, Sequence

from .results import Alert, Match, Summary

URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")


def is_uri(path: str) -> bool:
    """s3://bucket/key, dbfs:/... and the like: an input only Spark reads. A scheme has two letters or more,
    so a drive letter (C:/) is not one."""
    return URI.match(str(path)) is not None


@dataclass(frozen=True)
class Options:
    """What `scan` was asked besides its inputs; an engine refuses an option it has no use for."""

    rule_ids: list[str] | None = None  # only these rules (ids or names); None: every rule
    filters: tuple = ()  # local tuning (filters.LocalFilter), applied as the build applies it
    jobs: int | None = None  # the default engine's worker processes
    master: str | None = None  # the Spark master URL
    on_file: Callable | None = None  # called with each file's result as it is done (a progress bar)
    every_record: bool = False  # the default engine checks every record, not only those near a rule's literals


class Engine(Protocol):
    name: ClassVar[str]  # the value of `scan --engine`

    def __init__(self, pack, options: Options) -> None:
        """(The default engine also takes a plan already built in place of the pack: the CLI's plan cache.)"""

    @classmethod
    def usage_error(cls, paths: Sequence[str], options: Options) -> str | None:
        """Why this engine cannot run with these inputs and options (one line for the user), or None."""

    def scan(self, paths: Sequence[str], summary: Summary) -> Generator[Match | Alert, None, None]:
        """The reports: detections in file and record order (rule ids sorted), then correlation alerts;
        closing the generator ends the engine's work."""
