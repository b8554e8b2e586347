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
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ..context import JobContext, _current
from ..errors import StoreUnavailable
from ..job import JobRecord
from ..stores.base import Done
from .messages import Cancel, Claimed, Event, Exiting, Finished, Started, Stop
from .reports import Writer
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
# Short jobs are claimed and recorded in batches, so a busy worker makes one store call
# per batch instead of two per job. A thread claims as many jobs as it expects to run in
# BATCH_WINDOW (one at a time once they take that long), and a succeeded job is recorded
# with the thread's next claim or, at the latest, about FLUSH_AFTER after it ended.
BATCH_WINDOW = 0.005
MAX_BATCH = 16
FLUSH_AFTER = 0.005
HOLD_LIMIT = 0.1  # a claimed job not started within this goes back to the queue
RETRY_STORE = 1.0  # seconds before trying again a store that could not be reached


class Pace:
    """How long this thread's jobs take (a moving average), to size its claims."""

    def __init__(self) -> None:
        self.mean: float | None = None

    def observe(self, seconds: float) -> None:
        self.mean = seconds if self.mean is None else 0.8 * self.mean + 0.2 * seconds

    def batch(self) -> int:
        """How many jobs to claim next: 1 until a job was timed, at most MAX_BATCH."""
        if self.mean is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_WINDOW / max(self.mean, 1e-6))))


@dataclass
class ChildState:
    """What the threads of one child share."""

    bb: Backburner
    config: WorkerConfig
    worker_id: str
    conn: Connection  # commands from the supervisor
    reports: Writer  # reports to the supervisor
    stop: threading.Event = field(default_factory=threading.Event)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)
    contexts: dict[str, JobContext] = field(default_factory=dict)
    jobs_left: int | None = None
    broken: bool = False
    batches: Batches = field(init=False)

    def __post_init__(self) -> None:
        self.jobs_left = self.config.max_jobs_per_child
        self.batches = Batches(self)

    def send(self, *events: Event) -> None:
        """Send events to the supervisor in one message (see `messages`)."""
        if not events:
            return
        with self.send_lock:
            try:
                self.reports.send(events)
            except OSError:  # supervisor gone: finish what we hold and stop
                self.stop.set()

    def take_slots(self, wanted: int) -> int:
        """Count up to `wanted` more jobs against --max-jobs-per-child; how many may run."""
        with self.lock:
            if self.jobs_left is None:
                return wanted
            granted = min(wanted, self.jobs_left)
            self.jobs_left -= granted
            return granted

    def give_back_slots(self, count: int) -> None:
        with self.lock:
            if self.jobs_left is not None:
                self.jobs_left += count


class Batches:
    """What a child holds between store calls, shared by its threads: claimed jobs not
    started yet, and succeeded jobs not recorded yet. Threads record results with their
    next claim; this class's own thread records results that waited FLUSH_AFTER and hands
    back jobs left unstarted for HOLD_LIMIT (behind a slow job, say), so a batch never
    holds back results, nor work another process could do."""

    def __init__(self, state: ChildState) -> None:
        self.state = state
        self._cond = threading.Condition()
        self._results: list[Done] = []
        self._since = 0.0  # when the oldest result ended
        self._claimed: deque[tuple[float, JobRecord]] = deque()  # (claimed at, job)
        self._closed = False

    # -- claimed jobs ------------------------------------------------------------------
    def hold(self, records: list[JobRecord]) -> None:
        with self._cond:
            now = time.monotonic()
            self._claimed.extend((now, r) for r in records)
            self._cond.notify()

    def next_job(self) -> JobRecord | None:
        with self._cond:
            return self._claimed.popleft()[1] if self._claimed else None

    def drop_all(self) -> list[JobRecord]:
        """Every claimed job not started (stopping: they are to be handed back)."""
        with self._cond:
            dropped = [r for _, r in self._claimed]
            self._claimed.clear()
        return dropped

    # -- results -----------------------------------------------------------------------
    def add(self, done: Done) -> None:
        with self._cond:
            if not self._results:
                self._since = time.monotonic()
                self._cond.notify()
            self._results.append(done)

    def take(self) -> list[Done]:
        with self._cond:
            taken, self._results = self._results, []
        return taken

    def put_back(self, done: list[Done]) -> None:
        """Keep results whose recording failed for the next try."""
        with self._cond:
            if not self._results:
                self._since = time.monotonic()
                self._cond.notify()
            self._results[:0] = done

    # -- the batch thread --------------------------------------------------------------
    def close(self) -> None:
        """Record the results left and end the batch thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                results, stale = self._due()
                if results is None:
                    return
            events: list[Event] = []
            self._hand_back(stale, events)
            try:
                if results:
                    settle(self.state, results, 0, events)
            except StoreUnavailable as exc:
                log.warning("store unavailable, recording again in %ss: %s", RETRY_STORE, exc)
                if self._closed:  # stopping: the supervisor hands these jobs back uncounted
                    self.state.send(*events)
                    return
                time.sleep(RETRY_STORE)
            self.state.send(*events)

    def _due(self) -> tuple[list[Done] | None, list[JobRecord]]:
        """Wait (holding the condition) for results to record or jobs to hand back;
        (None, []) once closed with nothing left."""
        while True:
            now = time.monotonic()
            stale = []
            while self._claimed and now - self._claimed[0][0] >= HOLD_LIMIT:
                stale.append(self._claimed.popleft()[1])
            flush = bool(self._results) and (self._closed or now - self._since >= FLUSH_AFTER)
            if flush or stale:
                taken: list[Done] = []
                if flush:
                    taken, self._results = self._results, []
                return taken, stale
            if self._closed:
                return None, []
            deadlines = [self._claimed[0][0] + HOLD_LIMIT] if self._claimed else []
            if self._results:
                deadlines.append(self._since + FLUSH_AFTER)
            self._cond.wait(max(0.0, min(deadlines) - now) if deadlines else None)

    def _hand_back(self, stale: list[JobRecord], events: list[Event]) -> None:
        kept = []
        for record in stale:
            try:
                self.state.bb.store.release(record.id, record.token)
            except StoreUnavailable:
                kept.append(record)  # held a while longer: maybe a thread runs it
                continue
            self.state.give_back_slots(1)  # it never ran: not one of --max-jobs-per-child
            events.append(Finished(record.id, record.token))
        if kept:
            self.hold(kept)


def settle(state: ChildState, done: list[Done], limit: int, events: list[Event]) -> list[JobRecord]:
    """Record `done` and claim up to `limit` jobs in one store call; the supervisor's
    events for both are added to `events`. If the store cannot be reached, `done` goes
    back to the batches and StoreUnavailable is raised."""
    config = state.config
    try:
        accepted, claimed = state.bb.store.complete_and_claim(
            done, config.queues, state.worker_id, limit, config.lease
        )
    except StoreUnavailable:
        state.batches.put_back(done)
        raise
    except Exception:  # their leases lapse and they run again: at least once holds
        log.exception("could not record the outcome of job(s) %s", [d.job_id for d in done])
        accepted, claimed = [], []
    for i, d in enumerate(done):
        if i < len(accepted) and not accepted[i]:
            lease_lost(d.job_id)
        events.append(Finished(d.job_id, d.token))
    events.extend(Claimed.of(r) for r in claimed)
    return claimed


def child_main(
    bb: Backburner,
    config: WorkerConfig,
    worker_id: str,
    conn: Connection,
    reports: Writer,
    readers: list[int],
) -> None:
    """Entry point of a forked child; exits the process when done. `readers` are the
    supervisor's ends of report pipes, which this process must not hold open."""
    for fd in readers:
        os.close(fd)
    signal.set_wakeup_fd(-1)  # the supervisor's signal pipe is not ours to write to
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the
    state = ChildState(bb, config, worker_id, conn, reports)  # supervisor decides
    signal.signal(signal.SIGTERM, lambda *_: state.stop.set())
    capture_output()
    threading.Thread(target=_listen, args=(state,), daemon=True, name="bb-listen").start()
    batcher = threading.Thread(target=state.batches.run, name="bb-batch")
    batcher.start()
    threads = [
        threading.Thread(target=_work_or_break, args=(state,), name=f"bb-run-{i}")
        for i in range(config.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _hand_back_unstarted(state)
    state.batches.close()
    batcher.join()
    if not state.broken:  # a thread that died mid-job: that attempt must count
        state.send(Exiting())
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
        match message:
            case Stop():
                state.stop.set()
            case Cancel():
                with state.lock:
                    ctx = state.contexts.get(message.job_id)
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
    """Claim and run jobs until stopped. Events for the supervisor wait in `events` until
    the next job starts or the thread waits, so a busy thread sends one message per job."""
    pace = Pace()
    events: list[Event] = []
    try:
        while not state.stop.is_set():
            record = state.batches.next_job()
            if record is not None:
                _run_one(state, record, pace, events)
                continue
            claimed = _claim(state, pace.batch(), events)
            if claimed is None:
                return
            state.batches.hold(claimed)
    finally:
        state.send(*events)


def _hand_back_unstarted(state: ChildState) -> None:
    """Once every thread ended: release the claimed jobs none of them started."""
    events: list[Event] = []
    for record in state.batches.drop_all():
        try:
            state.bb.store.release(record.id, record.token)
        except Exception:  # their leases will lapse instead
            log.exception("job %s: could not hand it back", record.id)
        events.append(Finished(record.id, record.token))
    state.send(*events)


def _claim(state: ChildState, wanted: int, events: list[Event]) -> list[JobRecord] | None:
    """Record this child's succeeded jobs and claim up to `wanted` due ones; [] after
    waiting for work, None when this thread should end."""
    limit = state.take_slots(wanted)
    if limit == 0:
        return None
    try:
        claimed = settle(state, state.batches.take(), limit, events)
    except StoreUnavailable as exc:
        state.give_back_slots(limit)
        log.warning("store unavailable, retrying in %ss: %s", RETRY_STORE, exc)
        state.stop.wait(RETRY_STORE)
        return []
    state.give_back_slots(limit - len(claimed))
    if claimed:
        return claimed
    state.send(*events)
    events.clear()
    if state.config.burst:
        return None
    try:
        state.bb.store.wait_for_work(state.config.queues, IDLE_WAIT)
    except StoreUnavailable as exc:
        log.warning("store unavailable, retrying in %ss: %s", RETRY_STORE, exc)
        state.stop.wait(RETRY_STORE)
    return []


def _run_one(state: ChildState, record: JobRecord, pace: Pace, events: list[Event]) -> None:
    """Run one job; a success joins the results to record, anything else is recorded now."""
    bb = state.bb
    ctx = JobContext(bb.store, record.id, record.token, record.attempts, record.task)
    with state.lock:
        state.contexts[record.id] = ctx
    events.append(Started(record.id, record.token, time.monotonic()))  # one clock for all
    state.send(*events)
    events.clear()
    began = time.monotonic()
    try:
        outcome = execute(bb, record, ctx)
        pace.observe(time.monotonic() - began)
        ctx.flush()
        if outcome.succeeded:
            log.info("job %s %s succeeded (attempt %d)", record.id, record.task, record.attempts)
            state.batches.add(Done(record.id, record.token, outcome.result))
            return
        first = (outcome.error or "").splitlines()[0]
        verdict = "will retry" if outcome.retry_at else "failed"
        log.warning("job %s %s %s: %s", record.id, record.task, verdict, first)
        record_outcome(bb, record, outcome)
    except Exception:  # the store failed while recording: the lease will lapse and rescue
        log.exception("job %s: could not record its outcome", record.id)
    finally:
        with state.lock:
            state.contexts.pop(record.id, None)
    events.append(Finished(record.id, record.token))


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
