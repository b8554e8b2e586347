"""The worker log of the `backburner` command: stderr, every line tagged with the process
and the job it comes from; in the worker's children, print() inside a job joins that log.
With `--log-format json`, each line is one JSON object (see `JsonFormatter`).

Only the command sets it up (`backburner worker`, `flask backburner worker`,
`backburner demo`). `bb.run_worker()` called from Python configures nothing: the root
logger and sys.stdout are the caller's, and so are those of the children it forks.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from ..context import _current
from ..terminal import printable

if TYPE_CHECKING:
    from ..job import JobRecord

LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] [%(job_id)s] %(name)s: %(message)s"


class JobEvent(NamedTuple):
    """An attempt's ending, attached to its log line as `extra={"job_event": ...}` so
    JSON lines carry its fields. `outcome`: succeeded, raised, retried or failed."""

    record: JobRecord
    outcome: str
    duration: float | None = None
    error_type: str | None = None


def error_type(error: str | None) -> str | None:
    """ "ValueError" of a stored error "ValueError: message..."."""
    return error.split(":", 1)[0].strip() or None if error else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, process,
    job_id (of the job running in the thread, if any), and on an attempt's ending
    (`JobEvent`) its job_id, task, queue, attempt, duration (seconds), outcome and
    error_type; exc_info when an exception is logged."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, timezone.utc)
        line: dict[str, object] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        job_id = getattr(record, "job_id", "-")
        if job_id != "-":
            line["job_id"] = job_id
        event = getattr(record, "job_event", None)
        if isinstance(event, JobEvent):
            job = event.record
            line.update(
                job_id=job.id,
                task=job.task,
                queue=job.queue,
                attempt=job.attempts,
                outcome=event.outcome,
            )
            if event.duration is not None:
                line["duration"] = round(event.duration, 6)
            if event.error_type is not None:
                line["error_type"] = event.error_type
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str, log_format: str = "text") -> None:
    """Make the worker log this process's only log: to stderr, from `level` up, as text
    lines or (`log_format` "json") JSON lines. For the `backburner` command only: it
    replaces the root logger's handlers."""
    handler = _WorkerLog(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
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

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")  # the last second formatted, and its text

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As logging.Formatter's, with the text of each second made once: a busy worker
        logs a line per job, and strftime was a third of formatting one."""
        second = int(record.created)  # what converter() reads of it: whole seconds
        if datefmt is not None or self.default_msec_format is None:
            return super().formatTime(record, datefmt)
        last, text = self._second
        if second != last:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)  # one tuple: threads never see half of it
        return self.default_msec_format % (text, record.msecs)


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
