"""How a command ends: its exit statuses, the signals that stop it, and standard output that cannot be
written. `main.py` turns each into its status with at most one line on standard error, never a traceback.

Standard output fails as an `OutputError`, whoever writes to it: `guard_stdout` puts a writer under
`sys.stdout` that raises it, so that a full disk is told from any other OSError (a verb writing dist/ on
the same full disk fails as itself). `write` (and `TextOutput`, for rich) send data in pieces of at most
`PIECE` bytes, each flushed, so a failure is met at the write that failed (one large buffered write to a
pipe whose reader has gone can report success).
"""

from __future__ import annotations

import errno
import io
import os
import sys

EXIT_SOURCES = 1  # the project's sources are wrong (the message names the file and line)
EXIT_USAGE = 2  # a usage error, or `scan` skipped some input
EXIT_OUTPUT = 74  # standard output cannot be written (a full disk, an I/O error): EX_IOERR of sysexits.h
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
EXIT_CLOSED_PIPE = 141  # the reader of standard output went away (`... | head -1`): 128 + SIGPIPE
EXIT_TERMINATED = 143  # SIGTERM (`kill`): 128 + SIGTERM

PIECE = 1 << 16


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the handler `scan` installs, so that it ends as Ctrl-C does (the summary is
    printed, workers stopped) with its own status."""

    exit_status = EXIT_TERMINATED


class OutputError(Exception):
    """Standard output cannot be written: the reader went away (EPIPE) or the write failed."""

    def __init__(self, error: OSError):
        self.errno = error.errno
        self.reason = error.strerror or str(error)
        super().__init__(self.reason)

    @property
    def closed(self) -> bool:
        return self.errno == errno.EPIPE

    @property
    def status(self) -> int:
        return EXIT_CLOSED_PIPE if self.closed else EXIT_OUTPUT

    def describe(self) -> str:
        """Why the output stopped, for a summary."""
        return "the output closed (its reader went away)" if self.closed else f"standard output failed ({self.reason})"


class _Stdout(io.RawIOBase):
    """File descriptor 1, whose write errors are OutputError."""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1

    def isatty(self) -> bool:
        return os.isatty(1)

    def write(self, data) -> int:
        try:
            return os.write(1, data)
        except OSError as e:
            raise OutputError(e) from None


def guard_stdout() -> None:
    """Standard output through `_Stdout` (once, and only the process's own: a test's capture is left
    alone)."""
    current = sys.stdout
    if current is None or current is not sys.__stdout__:  # guarded already, or captured
        return
    try:
        if current.fileno() != 1:
            return
        current.flush()
    except (OSError, ValueError):
        return
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Stdout()), encoding=current.encoding, errors=current.errors,
                                  line_buffering=current.line_buffering)


def write(data: bytes) -> None:
    """`data` to standard output, now; raises OutputError."""
    out = sys.stdout.buffer
    try:
        for start in range(0, len(data), PIECE):
            out.write(data[start:start + PIECE])
            out.flush()
    except OSError as e:
        raise OutputError(e) from None


def echo(text: str) -> None:
    write(text.encode("utf-8", "replace") + b"\n")


class TextOutput:
    """Standard output as the text file rich writes to, through `write`."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        write(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()
