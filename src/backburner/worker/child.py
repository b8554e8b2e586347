"""A worker child process: T threads that claim jobs, run them and record the outcome.

The supervisor owns leases: a child tells it over a pipe which job each thread starts
and finishes, and the supervisor heartbeats, enforces timeouts and cleans up if the
child dies. So user code holding the GIL can never make a lease lapse.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from ..context import JobContext, _current
from ..errors import StoreUnavailable
from ..job import JobRecord
from .runner import execute, lease_lost, record_outcome

if TYPE_CHECKING:
    from ..app import Backburner
    from .supervisor import WorkerConfig

log = logging.getLogger("backburner.worker")
IDLE_WAIT = 1.0  # seconds a thread waits for work before checking for stop again
EXIT_STOPPED = 0  # exit codes the supervisor understands
EXIT_IDLE = 3  # --burst: nothing was due
EXIT_RECYCLE = 4  # --max-jobs-per-child reached
EXIT_BROKEN = 5  # a worker thread died: the supervisor fails its job and starts a new child


@dataclass
class ChildState:
    """What the threads of one child share."""

    bb: Backburner
    config: WorkerConfig
    worker_id: str
    conn: Connection
    stop: threading.Event
    send_lock: threading.Lock
    jobs_left: int | None
    contexts: dict[str, JobContext]
    lock: threading.Lock
    broken: bool = False

    def send(self, *events: tuple[Any, ...]) -> None:
        """Send events ("start", ...) / ("done", job_id) to the supervisor in one message."""
        with self.send_lock:
            try:
                self.conn.send(events)
            except OSError:  # supervisor gone: finish what we hold and stop
                self.stop.set()

    def take_slot(self) -> bool:
        """Count one more job against --max-jobs-per-child; False once the budget is spent."""
        with self.lock:
            if self.jobs_left is None:
                return True
            if self.jobs_left <= 0:
                return False
            self.jobs_left -= 1
            return True


def child_main(bb: Backburner, config: WorkerConfig, worker_id: str, conn: Connection) -> None:
    """Entry point of a forked child; exits the process when done."""
    signal.set_wakeup_fd(-1)  # the supervisor's signal pipe is not ours to write to
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the
    state = ChildState(  # supervisor decides what it means
        bb,
        config,
        worker_id,
        conn,
        threading.Event(),
        threading.Lock(),
        config.max_jobs_per_child,
        {},
        threading.Lock(),
    )
    signal.signal(signal.SIGTERM, lambda *_: state.stop.set())
    capture_output()
    threading.Thread(target=_listen, args=(state,), daemon=True, name="bb-listen").start()
    threads = [
        threading.Thread(target=_work_or_break, args=(state,), name=f"bb-run-{i}")
        for i in range(config.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bb.close()
    sys.stdout.flush()
    if state.broken:
        os._exit(EXIT_BROKEN)
    if state.jobs_left == 0:
        os._exit(EXIT_RECYCLE)
    os._exit(EXIT_IDLE if config.burst and not state.stop.is_set() else EXIT_STOPPED)


def _listen(state: ChildState) -> None:
    """Messages from the supervisor: stop, or cancel a running job."""
    while True:
        try:
            message = state.conn.recv()
        except (EOFError, OSError):
            state.stop.set()  # the supervisor died: finish in-hand jobs, claim no more
            return
        if message[0] == "stop":
            state.stop.set()
        elif message[0] == "cancel":
            with state.lock:
                ctx = state.contexts.get(message[1])
            if ctx is not None:
                ctx.cancel_requested = True


def _work_or_break(state: ChildState) -> None:
    """A thread that dies would leave its job held forever: stop the whole child instead,
    so the supervisor records the attempt and replaces it."""
    try:
        _work(state)
    except BaseException:
        log.exception("worker thread died; stopping this child process")
        state.broken = True
        state.stop.set()


def _work(state: ChildState) -> None:
    """Claim and run jobs until stopped. A successful job is completed and the next one
    claimed in one store call; its "done" rides with the next "start" to the supervisor."""
    claimed: list[JobRecord] = []
    finished: str | None = None  # the last job run, not yet reported done
    while True:
        if not claimed:
            if finished is not None:
                state.send(("done", finished))
                finished = None
            if state.stop.is_set():
                return
            got = _claim(state)
            if got is None:
                return
            claimed = got
            continue
        record = claimed.pop(0)
        ctx = JobContext(state.bb.store, record.id, record.token, record.attempts, record.task)
        with state.lock:
            state.contexts[record.id] = ctx
        start = (
            "start",
            record.id,
            record.token,
            record.attempts,
            record.max_attempts,
            record.retry_backoff,
            record.timeout,
        )
        state.send(*([("done", finished)] if finished else []), start)
        claimed += _run_one(state, record, ctx)
        finished = record.id


def _claim(state: ChildState) -> list[JobRecord] | None:
    """Due jobs ([] after waiting for work), or None when this thread should end."""
    store, config = state.bb.store, state.config
    if not state.take_slot():
        return None
    try:
        claimed = store.claim(config.queues, state.worker_id, 1, config.lease)
        if claimed:
            return claimed
        _give_back_slot(state)
        if config.burst:
            return None
        store.wait_for_work(config.queues, IDLE_WAIT)
    except StoreUnavailable as exc:
        _give_back_slot(state)
        log.warning("store unavailable, retrying in 1s: %s", exc)
        state.stop.wait(1.0)
    return []


def _give_back_slot(state: ChildState) -> None:
    with state.lock:
        if state.jobs_left is not None:
            state.jobs_left += 1


def _run_one(state: ChildState, record: JobRecord, ctx: JobContext) -> list[JobRecord]:
    """Run one job and record its outcome; returns the next job if one was claimed with it."""
    bb, config = state.bb, state.config
    next_jobs: list[JobRecord] = []
    try:
        outcome = execute(bb, record, ctx)
        ctx.flush()
        if outcome.succeeded:
            log.info("job %s %s succeeded (attempt %d)", record.id, record.task, record.attempts)
        else:
            first = (outcome.error or "").splitlines()[0]
            verdict = "will retry" if outcome.retry_at else "failed"
            log.warning("job %s %s %s: %s", record.id, record.task, verdict, first)
        if outcome.succeeded and not state.stop.is_set() and state.take_slot():
            try:
                done, next_jobs = bb.store.complete_and_claim(
                    record.id,
                    record.token,
                    outcome.result,
                    config.queues,
                    state.worker_id,
                    1,
                    config.lease,
                )
            finally:
                if not next_jobs:
                    _give_back_slot(state)
            if not done:
                lease_lost(record)
        else:
            record_outcome(bb, record, outcome)
    except Exception:  # the store failed while recording: the lease will lapse and rescue
        log.exception("job %s: could not record its outcome", record.id)
    finally:
        with state.lock:
            state.contexts.pop(record.id, None)
    return next_jobs


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


LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] [%(job_id)s] %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    """Worker log to stderr, every line tagged with pid and job id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_JobFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def capture_output() -> None:
    sys.stdout = _LineLogger()
