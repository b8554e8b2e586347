"""A worker child process: T threads that claim jobs, run them and record the outcome.

The supervisor owns leases: a child tells it over a pipe which jobs it claims and lets
go (a message a claim, not a job), marks in shared memory which it starts and ends
(`starts`), and the supervisor heartbeats, enforces timeouts and cleans up if the child
dies. So user code holding the GIL can never make a lease lapse.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from .. import metrics, tracing
from ..context import JobContext
from ..errors import StoreUnavailable
from ..job import JobRecord
from ..stores.base import Done
from . import capture
from .batching import RETRY_STORE, Batches, Pace
from .messages import Cancel, Event, Exiting, Finished, Ran, Started, Stop
from .output import JobEvent, capture_output, error_type
from .reports import Writer
from .runner import execute, flush_progress, record_outcome
from .starts import Starts

if TYPE_CHECKING:
    from ..app import Backburner
    from .supervisor import WorkerConfig

log = logging.getLogger("backburner.worker")
IDLE_WAIT = 1.0  # seconds a thread waits for work before it looks again (a stop wakes it)
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
    conn: Connection  # commands from the supervisor
    reports: Writer  # reports to the supervisor
    starts: Starts  # which claimed jobs run: shared with the supervisor
    stop: threading.Event = field(default_factory=threading.Event)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards contexts
    contexts: dict[str, JobContext] = field(default_factory=dict)
    broken: bool = False
    unknown_tasks: set[str] = field(default_factory=set)  # warned about once each
    batches: Batches = field(init=False)
    shipper: capture.Shipper = field(init=False)  # writes jobs' output to the store

    def __post_init__(self) -> None:
        self.batches = Batches(
            self.bb, self.config, self.worker_id, self.send, self.starts, self.stop
        )
        self.shipper = capture.Shipper(self.bb)
        self.batches.before_record = self.shipper.flush

    def send(self, *events: Event) -> None:
        """Send events to the supervisor in one message (see `messages`); the cells of
        the jobs let go are free once it is written."""
        if not events:
            return
        with self.send_lock:
            try:
                self.reports.send(events)
            except OSError:  # supervisor gone: finish what we hold and stop
                self.stop.set()
                return
        for event in events:
            if type(event) is Finished:
                self.starts.release(event.job_id, event.token)


def child_main(
    bb: Backburner,
    config: WorkerConfig,
    worker_id: str,
    conn: Connection,
    reports: Writer,
    starts: Starts,
    readers: list[int],
) -> None:
    """Entry point of a forked child; exits the process when done. `readers` are the
    supervisor's ends of report pipes, which this process must not hold open."""
    for fd in readers:
        os.close(fd)
    signal.set_wakeup_fd(-1)  # the supervisor's signal pipe is not ours to write to
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # so does a hangup; the supervisor decides
    state = ChildState(bb, config, worker_id, conn, reports, starts)
    signal.signal(signal.SIGTERM, lambda *_: state.stop.set())
    capture_output()  # only where the `backburner` command set up the worker's log
    capture.install()  # jobs' output is kept with them too
    threading.Thread(target=state.shipper.run, daemon=True, name="bb-logs").start()
    threading.Thread(target=_listen, args=(state,), daemon=True, name="bb-listen").start()
    threading.Thread(target=_wake_on_stop, args=(state,), daemon=True, name="bb-stop").start()
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
    state.batches.hand_back(state.batches.unstarted(), "stopping")
    state.batches.close()
    batcher.join()
    state.shipper.stop()
    if not state.broken:  # a thread that died mid-job: that attempt must count
        state.send(Exiting())
    bb.close()
    tracing.flush()  # os._exit() below would drop the spans not exported yet
    sys.stdout.flush()
    if state.broken:
        os._exit(EXIT_BROKEN)
    if state.batches.slots.used_up:
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


def _wake_on_stop(state: ChildState) -> None:
    """Once the child is told to stop (SIGTERM, Stop, the supervisor gone, a thread
    broken), wake its threads waiting for work, so they end now, not at IDLE_WAIT. A
    thread of its own: the store is not to be called from a signal handler. (`bb.store`
    is the one store its threads wait on: it is opened once, whichever thread is first.)"""
    state.stop.wait()
    state.bb.store.stop_waiting()


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
    """Claim and run jobs until stopped. Events for the supervisor wait in `batches` for
    the next claim (or FLUSH_AFTER), so a busy child sends one message per claim."""
    pace = Pace(state.config.threads)
    while not state.stop.is_set():
        record = state.batches.next_job()
        if record is not None:
            _run_one(state, record, pace)
            continue
        if state.stop.is_set():  # told to stop while it waited: claim nothing more
            break
        claimed = _claim(state, pace.batch())
        if claimed is None:
            break
        state.batches.hold(claimed)
    state.batches.let_go_handed()  # one its last claim could not take (store out of reach)


def _claim(state: ChildState, wanted: int) -> tuple[JobRecord, ...] | None:
    """Record this child's succeeded jobs and claim up to `wanted` due ones; () after
    waiting for work, None when this thread should end."""
    try:
        claim = state.batches.claim(wanted)
    except StoreUnavailable as exc:
        log.warning("store unavailable, retrying in %ss: %s", RETRY_STORE, exc)
        state.stop.wait(RETRY_STORE)
        return ()
    if claim.used_up:
        return None
    # The supervisor learns of the claim (and the job's cell) before any thread can start
    # one of these jobs: a start it cannot match to a claim would leave that attempt with
    # no timeout and, should the child die, handed back uncounted.
    state.send(*claim.events)
    if claim.records:
        return claim.records
    if state.config.burst:
        return None
    try:
        state.bb.store.wait_for_work(state.config.queues, IDLE_WAIT)
    except StoreUnavailable as exc:
        log.warning("store unavailable, retrying in %ss: %s", RETRY_STORE, exc)
        state.stop.wait(RETRY_STORE)
    if state.bb.store.handed_over():  # claimed already: the supervisor hears of it now,
        return _claim(state, 1)  # not after this thread ran a job held meanwhile
    return ()


def _run_one(state: ChildState, record: JobRecord, pace: Pace) -> None:
    """Run one job; a success joins the results to record, anything else is recorded now."""
    bb = state.bb
    ctx = JobContext(
        bb.store, record.id, record.token, record.attempts, record.task, record.scheduled_for
    )
    with state.lock:
        state.contexts[record.id] = ctx
    began = time.monotonic()  # one clock for the whole machine: the supervisor's too
    if not state.starts.start(record.id, record.token, began):
        state.send(Started(record.id, record.token, began))  # no cell: say it
    events: list[Event] = []
    try:
        begun = state.shipper.begin(record)
        try:
            outcome = execute(bb, record, ctx)
        finally:
            state.starts.end(record.id, record.token)  # no longer runs: no timeout
            state.shipper.end(begun)
        took = time.monotonic() - began
        pace.observe(took)
        flush_progress(ctx)
        if log.isEnabledFor(logging.INFO):  # else its arguments cost 1 us a job for nothing
            verdict = "succeeded" if outcome.succeeded else "raised"  # a failure's details follow
            log.info(
                "job %s %s %s in %.3fs (attempt %d)",
                *(record.id, record.task, verdict, took, record.attempts),
                extra={"job_event": JobEvent(record, verdict, took, error_type(outcome.error))},
            )
        if outcome.succeeded:  # its last lines are stored with the batch's (before_record)
            # sent once the store accepted it, for the supervisor's history and metrics
            ran = Ran(record.task, record.queue, metrics.SUCCEEDED, took)
            state.batches.add(Done(record.id, record.token, outcome.result), ran)
            return
        state.shipper.flush()
        status = record_outcome(bb, record, outcome, warned=state.unknown_tasks)
        counted = metrics.OUTCOME_OF.get(status) if status and not outcome.unknown_task else None
        if counted is not None:
            events.append(Ran(record.task, record.queue, counted, took))
    except Exception:  # the store failed while recording: the lease will lapse and rescue
        log.exception("job %s: could not record its outcome", record.id)
    finally:
        with state.lock:
            state.contexts.pop(record.id, None)
    state.batches.report(*events, Finished(record.id, record.token))
