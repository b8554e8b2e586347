"""The worker log of the `backburner` command: stderr, every line tagged with the process
and the job it comes from; in the worker's children, print() inside a job joins that log.

Only the command sets it up (`backburner worker`, `flask backburner worker`,
`backburner demo`). `bb.run_worker()` called from Python configures nothing: the root
logger and sys.stdout are the caller's, and so are those of the children it forks.
"""

from __future__ import annotations

import io
import logging
import sys
import threading

from ..context import _current
from ..terminal import printable

LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] [%(job_id)s] %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    """Make the worker log this process's only log: to stderr, from `level` up. For the
    `backburner` command only: it replaces the root logger's handlers."""
    handler = _WorkerLog(sys.stderr)
    handler.setFormatter(_PrintableFormatter(LOG_FORMAT))
    handler.addFilter(_JobFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def capture_output() -> None:
    """In a worker child forked from a process with the worker log: print() becomes lines
    of that log, so the output of concurrent jobs is not interleaved and carries the job
    id. Elsewhere (`bb.run_worker()` from Python) sys.stdout is left alone: the caller's
    logging might drop those lines, where its stdout shows them as printed."""
    if any(isinstance(h, _WorkerLog) for h in logging.getLogger().handlers):
        sys.stdout = _LineLogger()


class _WorkerLog(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `setup_logging` installs: its presence says the worker log is set up."""


class _PrintableFormatter(logging.Formatter):
    """Log lines with control characters shown as escapes (see `terminal.printable`): an
    error or progress message, or a job's print(), cannot drive the operator's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class _JobFilter(logging.Filter):
    """Tags every record with the id of the job running in its thread ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get()
        record.job_id = ctx.id if ctx is not None else "-"
        return True


class _LineLogger(io.TextIOBase):
    """Stands in for sys.stdout in a child: each line printed becomes a log record, so
    output of concurrent jobs is not interleaved and carries its job id."""

    def __init__(self) -> None:
        self._partial = threading.local()
        self._log = logging.getLogger("backburner.job")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffered = getattr(self._partial, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._partial.text = rest
        for line in lines:
            self._log.info("%s", line)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._partial, "text", "")
        if rest:
            self._partial.text = ""
            self._log.info("%s", rest)
