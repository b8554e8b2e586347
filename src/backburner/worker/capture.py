"""A job's own output, kept with the job: print() / sys.stdout, sys.stderr and logging
records written while an attempt runs become `LogLine`s in the store.

Attribution: a context variable holds the running attempt's `Capture`. The worker
thread sets it around the task; asyncio tasks inherit it; threads the job starts
(threading.Thread, hence concurrent.futures pools created during the job, and
asyncio.to_thread) inherit it too, because `install()` makes Thread.start hand the
starting thread's capture to the new thread. Output after the attempt ended (a thread it
left running) is no longer kept.

Everything written still goes where it went before (the worker's log, or the caller's
stdout and stderr): capture only copies it.

Cost: a job that writes nothing costs a context variable set and reset; lines wait in
memory and `Shipper` writes every job's pending lines in one store call at most every
FLUSH_INTERVAL seconds; the rest of an attempt's are written before its outcome is
stored, with those of the other attempts whose outcomes are recorded in the same batch.
Only worker children install any of this (`child_main`), never `drain()` or eager mode,
which run in your own process.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TextIO, cast

from ..codec import storable_text
from ..logs import LogLine

if TYPE_CHECKING:
    from ..app import Backburner
    from ..job import JobRecord

log = logging.getLogger("backburner.worker")

FLUSH_INTERVAL = 0.25  # seconds lines wait before a write, while the job runs
# print() in a child with the worker log becomes a record of this logger (see output.py):
# it is captured once, as stdout, not again as a logging record
_PRINT_LOGGER = "backburner.job"

_capture: ContextVar[Capture | None] = ContextVar("backburner_log_capture", default=None)


class Capture:
    """The output of one attempt: lines kept up to the caps, waiting to be written.

    A line that would pass `max_lines` or `max_bytes` (of UTF-8 message text) is
    dropped, and so is every line after it, so what is kept is the beginning of the
    output; `finish()` adds a last line counting what was dropped."""

    def __init__(self, job_id: str, attempt: int, max_lines: int, max_bytes: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.kept = 0
        self.size = 0
        self.dropped = 0
        self.closed = False
        self._pending: list[LogLine] = []
        self._partial: dict[str, str] = {}  # stream -> text after its last newline
        self._lock = threading.Lock()
        self.shipped = False  # the shipper has been told of its lines (see on_pending)
        # called with this capture when a line waits and none did: the shipper then
        # writes it (a job that writes nothing never gets there)
        self.on_pending: Callable[[Capture], None] | None = None

    def write(self, stream: str, text: str) -> None:
        """Text written to `stream` ("stdout" or "stderr"): each whole line is kept."""
        with self._lock:
            if self.closed:
                return
            buffered = self._partial.get(stream, "") + text
            *lines, rest = buffered.split("\n")
            self._partial[stream] = rest
            for line in lines:
                self._add(stream, None, line)

    def record(self, level: str, message: str) -> None:
        """A logging record, kept as one line (with its traceback, if any)."""
        with self._lock:
            if not self.closed:
                self._add("log", level, message)

    def _add(self, stream: str, level: str | None, message: str) -> None:
        message = storable_text(message.removesuffix("\r"))
        size = len(message.encode("utf-8"))
        if self.dropped or self.kept >= self.max_lines or self.size + size > self.max_bytes:
            self.dropped += 1
            return
        self.kept += 1
        self.size += size
        self._pending.append(LogLine(time.time(), self.attempt, stream, level, message))
        if len(self._pending) == 1 and self.on_pending is not None:
            self.shipped = True
            self.on_pending(self)

    def take(self) -> list[LogLine]:
        """The lines not written yet; they are the caller's to write now."""
        with self._lock:
            taken, self._pending = self._pending, []
            return taken

    def finish(self) -> list[LogLine]:
        """End the attempt's capture: its unwritten lines, a partial last line of each
        stream, and the count of dropped lines as a last line."""
        with self._lock:
            self.closed = True
            if not (self._pending or self._partial or self.dropped):
                return []  # the usual case: a job that wrote nothing
            for stream, rest in self._partial.items():
                if rest:
                    self._add(stream, None, rest)
            self._partial.clear()
            if self.dropped:
                self._pending.append(
                    LogLine(
                        time.time(),
                        self.attempt,
                        "log",
                        "WARNING",
                        f"... {self.dropped:,} more lines dropped (a job keeps "
                        f"{self.max_lines:,} lines and {self.max_bytes:,} bytes per attempt: "
                        "set log_lines= / log_bytes= on the task or Backburner to change it)",
                    )
                )
            taken, self._pending = self._pending, []
            return taken


class Shipper:
    """Writes the captured lines of one worker child's jobs to the store: a thread that
    wakes when a line is pending, lets more gather for FLUSH_INTERVAL seconds and writes
    them all in one store call. An attempt's last lines wait for `flush()`, which the
    child calls before it records outcomes: one write for a whole batch of jobs."""

    def __init__(self, bb: Backburner) -> None:
        self.bb = bb
        self._active: set[Capture] = set()
        self._ended: list[tuple[str, list[LogLine]]] = []  # last lines not stored yet
        self._lock = threading.Lock()  # guards _active
        self._writing = threading.Lock()  # held from taking lines to storing them
        self._wake = threading.Event()
        self._stop = threading.Event()

    def begin(self, record: JobRecord) -> tuple[Capture, Token[Capture | None]] | None:
        """Capture the output of `record`'s attempt from now on, in this thread and the
        threads it starts (None, capturing nothing, when its task's caps are 0). Pass the
        result to `end()` when the attempt's code returns. (Two calls rather than a `with`
        block: this runs once per job on a worker's hot path.)"""
        task = self.bb.tasks.get(record.task)
        lines, size = task.log_caps if task is not None else (0, 0)
        if lines <= 0 or size <= 0:
            return None
        capture = Capture(record.id, record.attempts, lines, size)
        capture.on_pending = self._pending
        return capture, _capture.set(capture)

    def end(self, begun: tuple[Capture, Token[Capture | None]] | None) -> None:
        """Stop capturing the attempt `begin()` started; its last lines wait for `flush()`."""
        if begun is None:
            return
        capture, token = begun
        _capture.reset(token)
        last = capture.finish()
        if last or capture.shipped:
            with self._lock:
                self._active.discard(capture)
                self._ended.append((capture.job_id, last))

    @contextmanager
    def capturing(self, record: JobRecord) -> Iterator[None]:
        """`begin()` and `end()` around a block."""
        begun = self.begin(record)
        try:
            yield
        finally:
            self.end(begun)

    def flush(self) -> None:
        """Store the last lines of the attempts that ended, in one store call: called
        before their outcomes are recorded, so a job seen finished has all its lines."""
        if not self._ended:  # the usual case when jobs write nothing: no lock, no call
            return
        with self._writing:
            with self._lock:
                ended, self._ended = self._ended, []
            lines: dict[str, list[LogLine]] = {}
            for job_id, last in ended:
                lines.setdefault(job_id, []).extend(last)
            self._store(lines)

    def _pending(self, capture: Capture) -> None:
        """`capture` has a line to write: the shipper's thread writes it soon."""
        with self._lock:
            self._active.add(capture)
        self._wake.set()

    def run(self) -> None:
        """The shipper thread's loop, until `stop()`."""
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self._stop.wait(FLUSH_INTERVAL)  # let lines gather: one write for many
            self.flush()  # ended attempts first: their lines come before any later ones
            with self._lock:
                active = list(self._active)
            with self._writing:  # taken and written at once: a job's lines stay in order
                self._store({c.job_id: c.take() for c in active})

    def stop(self) -> None:
        """End `run()` (attempts still running write their lines as they end)."""
        self._stop.set()
        self._wake.set()

    def _store(self, lines: dict[str, list[LogLine]]) -> None:
        lines = {job_id: added for job_id, added in lines.items() if added}
        if not lines:
            return
        try:
            self.bb.store.append_logs(lines)
        except Exception:  # a job's log never fails the job, nor the worker
            count = sum(len(added) for added in lines.values())
            log.exception("could not store %d line(s) of job output; dropped", count)


class _Tee:
    """Stands in for sys.stdout or sys.stderr: writes go on to `target` as before, and
    are copied to the running attempt's capture, if any."""

    def __init__(self, target: TextIO, stream: str) -> None:
        self._target = target
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._target.write(text)
        capture = _capture.get()
        if capture is not None and isinstance(text, str):
            capture.write(self._stream, text)
        return written

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer...
        return getattr(self._target, name)


def _copy_records(make: Any) -> Any:
    """A LogRecord factory that also hands each record made during a job to its capture.
    A record factory sees every record a logger lets through its level, wherever it is
    handled, and changes nothing about handlers (the last-resort handler included)."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        capture = _capture.get()
        if capture is not None and record.name != _PRINT_LOGGER:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            elif record.exc_text:
                message += "\n" + record.exc_text
            if record.stack_info:
                message += "\n" + record.stack_info
            capture.record(record.levelname, message)
        return record

    return factory


def _inherit_on_start(start: Any) -> Any:
    """Thread.start that gives the new thread the starting thread's capture."""

    def start_in_job(self: threading.Thread) -> None:
        capture = _capture.get()
        if capture is not None:
            run = self.run

            def run_in_job() -> None:
                _capture.set(capture)  # a new thread starts with an empty context
                run()

            self.run = run_in_job  # type: ignore[method-assign]
        start(self)

    return start_in_job


def _uncaptured(handle: Any) -> Any:
    """Handler.handle without capture: a handler writing a record to sys.stderr (Python's
    last-resort handler, a StreamHandler made in the job) must not copy the record a
    second time, as stderr; the record itself was captured when it was made."""

    def handle_uncaptured(self: logging.Handler, record: logging.LogRecord) -> Any:
        if _capture.get() is None:  # outside a job: nothing to keep out
            return handle(self, record)
        token = _capture.set(None)
        try:
            return handle(self, record)
        finally:
            _capture.reset(token)

    return handle_uncaptured


def install() -> None:
    """In a worker child: copy stdout, stderr and logging records to the running job's
    capture. The child is ours (forked to run jobs), so it may rewire its own streams,
    the LogRecord factory, Handler.handle and Thread.start (see the module docstring)."""
    sys.stdout = cast(TextIO, _Tee(sys.stdout, "stdout"))
    sys.stderr = cast(TextIO, _Tee(sys.stderr, "stderr"))
    logging.setLogRecordFactory(_copy_records(logging.getLogRecordFactory()))
    logging.Handler.handle = _uncaptured(logging.Handler.handle)  # type: ignore[method-assign]
    threading.Thread.start = _inherit_on_start(threading.Thread.start)  # type: ignore[method-assign]
