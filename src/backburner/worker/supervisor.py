"""The supervisor: forks the children, owns their leases, and never loses a job.

It heartbeats every lease held by its children every lease/3 seconds, kills a child
whose job overran its timeout or outlived a forced cancel's grace (see `cancels`), fails
the attempt of a child that died (so the job is retried at once instead of after the
lease lapses), restarts children (with backoff when they crash in a loop), rescues
lapsed leases of other workers, and on SIGTERM or SIGINT lets jobs finish within the
shutdown timeout before handing the rest back; a second signal (Ctrl-C twice, or a
SIGTERM more than REPEAT_WINDOW after the first) hands them back at once. SIGHUP (and,
with --reload, a changed source file) imports the app again and replaces the children
one at a time, each finishing its running jobs first.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .. import defaults, limits, metrics, policy, signals
from ..errors import JobTimeout
from ..job import JobStatus
from ..stores.base import WorkerInfo
from ..urls import describe
from . import cancels, exporter, reports
from .child import EXIT_IDLE, EXIT_RECYCLE, child_main
from .expiry import Expiry
from .history import OutcomeHistory
from .messages import Cancel, Claimed, Command, Exiting, Finished, Ran, Started, Stop
from .quiet import Quietly
from .reloader import WATCH_EVERY, Rollout, SourceWatcher
from .runner import announce
from .scheduler import SchedulerThread
from .starts import Starts

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ..app import Backburner

log = logging.getLogger("backburner.worker")
FAST_CRASH = 5.0  # a child dying sooner than this after start counts toward crash backoff
REPEAT_WINDOW = 1.5  # a SIGTERM this soon after another is a resend, not a second signal
# Children's claim/done reports are read in batches at most this often: a busy worker
# then costs the supervisor one wake-up per batch, not one per job. Nothing waits on them:
# a death or a tick reads what is pending first. Starts are not reported but written to
# the child's `starts` table, which the supervisor reads as often while a job that has a
# timeout (or a forced cancel) is claimed and not seen started.
READ_EVERY = 0.02
# A job that ended just before its timeout may still wait this long to be reported done
# (its result is recorded in a batch), so the kill waits that much longer.
REPORT_GRACE = 0.05
_AFTER = {JobStatus.QUEUED: "will retry", JobStatus.CANCELLED: "cancelled"}  # a dead child's job


@dataclass(frozen=True)
class WorkerConfig:
    """Options of `backburner worker` / `bb.run_worker()`."""

    processes: int = defaults.PROCESSES
    threads: int = defaults.THREADS
    queues: tuple[str, ...] | None = None
    burst: bool = False
    max_jobs_per_child: int | None = None
    shutdown_timeout: float = defaults.SHUTDOWN_TIMEOUT
    lease: float = defaults.LEASE
    reload: bool = False  # replace the children when a *.py file under the cwd changes
    metrics_port: int | None = None  # serve Prometheus metrics there (None: no metrics)
    metrics_host: str = "0.0.0.0"  # scraped from other hosts, as a rule
    store_metrics: bool = False  # serve the store gauges with them too
    periodic: bool = True  # run a scheduler for bb.schedules (worker/scheduler.py)

    def __post_init__(self) -> None:
        checks = [
            (self.processes >= 1, "processes must be >= 1"),
            (self.threads >= 1, "threads must be >= 1"),
            (limits.is_finite(self.lease) and self.lease > 0, "lease must be finite seconds > 0"),
            (
                limits.is_finite(self.shutdown_timeout) and self.shutdown_timeout >= 0,
                "shutdown timeout must be finite seconds >= 0",
            ),
            (
                self.max_jobs_per_child is None or self.max_jobs_per_child >= 1,
                "max jobs per child must be >= 1",
            ),
            (self.queues is None or all(self.queues), "queue names must not be empty"),
            (
                self.metrics_port is None or 0 <= self.metrics_port <= 65535,
                "metrics port must be from 0 to 65535",
            ),
            (
                self.metrics_port is not None or not self.store_metrics,
                "store metrics are served on the metrics port: give one too",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        for queue in self.queues or ():
            limits.check_text(queue, "queue", limits.MAX_NAME_BYTES)


@dataclass
class Held:
    """A job a child claimed, as the supervisor tracks it."""

    token: int
    attempts: int
    max_attempts: int
    retry_backoff: float
    timeout: float | None
    cell: int = -1  # its cell in the child's `starts` table (-1: a Started event tells)
    started: float | None = None  # time.monotonic() in the child when it started the job
    ended: bool = False  # it no longer runs (its Finished is on its way): no timeout
    cancel_grace: float | None = None  # cancelled by force: the grace, from a heartbeat
    forced_at: float | None = None  # time.monotonic() when a heartbeat first said so


@dataclass
class Child:
    index: int
    process: BaseProcess
    conn: Connection  # commands to the child (messages.Command)
    reports: reports.Reader  # the child's reports (messages.Event)
    starts: Starts  # which of its jobs run (shared memory the child writes)
    started: float = field(default_factory=time.monotonic)
    jobs: dict[str, Held] = field(default_factory=dict)
    timed_out: str | None = None
    force_cancelled: str | None = None  # killed to stop this job, cancelled by force
    clean_exit: bool = False  # it said goodbye: whatever it still holds never crashed it
    retiring: bool = False  # stopping for a reload: its replacement runs already


class Supervisor:
    """Runs one worker: `run()` returns the process exit code."""

    def __init__(
        self,
        bb: Backburner,
        config: WorkerConfig,
        loader: Callable[[], Backburner] | None = None,
    ) -> None:
        self.bb = bb
        self.config = config
        self.loader = loader  # imports the app afresh on reload; None: keep this code
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.children: dict[int, Child] = {}
        self.restart_at: dict[int, float] = {}
        self.crashes = 0
        self.started_at = time.time()
        self.stopping = False
        self.stopping_announced = False
        self.last_signal = (0, 0.0)
        self.stop_deadline = 0.0
        self.next_tick = 0.0
        self.next_read = 0.0
        self.rollout = Rollout()
        self.next_index = config.processes  # indices for children started by a reload
        self.watcher = SourceWatcher(os.getcwd()) if config.reload else None
        self.next_watch = 0.0
        self._ctx = mp.get_context("fork")
        self._wake_r, self._wake_w = os.pipe()
        self._quietly = Quietly(log)  # a store call that fails is logged, never fatal
        self.expiry = Expiry(self._quietly)  # result expiry, off this loop
        self.metrics: exporter.Exporter | None = None
        self.history = OutcomeHistory()
        self.periodic = SchedulerThread() if config.periodic else None

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> int:
        self.metrics = exporter.start(self.bb, self.config)  # first: it may fail to serve
        if self.metrics is not None and self.periodic is not None:
            collector = metrics.MisfireCollector(self.periodic.misfires, lambda: self.bb.schedules)
            self.metrics.jobs.registry.register(collector)
        os.set_blocking(self._wake_w, False)
        old = signal.set_wakeup_fd(self._wake_w)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        handlers = {s: signal.signal(s, lambda *_: None) for s in handled}
        log.info(
            "worker %s: %d process(es) x %d thread(s), queues %s, store %s",
            self.id,
            self.config.processes,
            self.config.threads,
            ",".join(self.config.queues or ["*"]),
            describe(self.bb.url, default=self.bb.url_source == "default"),
        )
        if self.bb.tasks:
            log.info("worker %s: tasks %s", self.id, ", ".join(sorted(self.bb.tasks)))
        else:  # an app whose tasks module is never imported: every job would be unknown
            log.warning(
                "worker %s: no tasks registered; import your tasks module where the "
                "Backburner or the app factory is defined",
                self.id,
            )
        signals.send(signals.worker_started, self.bb, worker_id=self.id, config=self.config)
        try:
            for index in range(self.config.processes):
                self._spawn(index)
            while self.children or (self.restart_at and not self.stopping):
                if self.periodic is not None:  # a reload may have replaced the app
                    self.periodic.stop() if self.stopping else self.periodic.follow(
                        self.bb, self.started_at
                    )
                self._step()
            self._announce_stopping("no job left (--burst)" if self.config.burst else "stopped")
        finally:
            if self.periodic is not None:
                self.periodic.stop()
            for child in self.children.values():  # only after an error in the loop itself
                child.process.kill()
            signal.set_wakeup_fd(old)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self.history.flush(self.bb.store, self._quietly, now=time.monotonic(), force=True)
            self._quietly(self.bb.store.remove_worker, self.id)
            if self.metrics is not None:
                self.metrics.server.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
        log.info("worker %s stopped", self.id)
        return 0

    def _spawn(self, index: int) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        reader, writer = reports.pipe()
        starts = Starts.for_threads(self.config.threads)  # before the fork: shared
        # read ends the child must close, so a dead supervisor means EPIPE to its writes
        readers = [reader.fd, *(c.reports.fd for c in self.children.values())]
        if self.metrics is not None:
            readers.append(self.metrics.server.fileno())  # the child serves no metrics
        worker_id = f"{self.id}#{index}"
        process = self._ctx.Process(
            target=child_main,
            args=(self.bb, self.config, worker_id, child_conn, writer, starts, readers),
            name=f"backburner-child-{index}",
            daemon=False,
        )
        process.start()
        child_conn.close()
        writer.close()
        self.children[index] = Child(index, process, parent_conn, reader, starts)

    def _step(self) -> None:
        ready = self._wait()
        if self._wake_r in ready:
            self._on_signals()
        for child in list(self.children.values()):
            if child.reports.fd in ready:
                self._read(child)
            if child.process.sentinel in ready:
                self._reap(child)
        for child in self.children.values():
            self._look(child)
        now = time.monotonic()
        if now >= self.next_tick:
            self._tick()
            self.next_tick = now + self.config.lease / 3
        self.history.flush(self.bb.store, self._quietly, now=now)
        self._enforce_timeouts(now)
        self._enforce_cancels(now)
        if self.stopping and now >= self.stop_deadline:
            self._hand_back_all("shutdown timeout reached")
        for index, when in list(self.restart_at.items()):
            if now >= when and not self.stopping:
                del self.restart_at[index]
                self._spawn(index)
        if self.watcher is not None and now >= self.next_watch:
            self.next_watch = now + WATCH_EVERY
            changed = self.watcher.changed()
            if changed is not None:
                self.rollout.begin(self, f"{changed} changed")
        self.rollout.advance(self, now)

    def _wait(self) -> list[Any]:
        """Block until a signal, a child's exit, a deadline, or (at most every
        READ_EVERY) a child's reports; returns what is ready."""
        now = time.monotonic()
        reading = now >= self.next_read
        waitables: list[Any] = [self._wake_r]
        for child in self.children.values():
            waitables.append(child.process.sentinel)
            if reading and not child.reports.closed:
                waitables.append(child.reports.fd)
        deadline = self._next_deadline(now)
        if not reading:
            deadline = min(deadline, self.next_read)
        ready = wait(waitables, timeout=max(0.0, deadline - now))
        if not reading and time.monotonic() >= self.next_read:
            ready += [c.reports.fd for c in self.children.values()]  # due: read them all
        if any(c.reports.fd in ready for c in self.children.values()):
            self.next_read = time.monotonic() + READ_EVERY
        return ready

    def _next_deadline(self, now: float) -> float:
        deadline = min(self.next_tick, self.history.next_flush)
        for child in self.children.values():
            for held in child.jobs.values():
                if held.ended or (held.timeout is None and held.cancel_grace is None):
                    continue
                if held.started is not None and held.timeout is not None:
                    deadline = min(deadline, held.started + held.timeout + REPORT_GRACE)
                elif held.started is None and held.cell >= 0:  # look for its start
                    deadline = min(deadline, now + READ_EVERY)
        deadline = min(deadline, cancels.next_deadline(self.children.values()) + REPORT_GRACE)
        if self.restart_at:
            deadline = min(deadline, *self.restart_at.values())
        if self.stopping:
            deadline = min(deadline, self.stop_deadline)
        if self.rollout.retiring is not None:
            deadline = min(deadline, self.rollout.deadline)
        if self.watcher is not None:
            deadline = min(deadline, self.next_watch)
        return max(deadline, now)

    # -- signals and shutdown ----------------------------------------------------------
    def _on_signals(self) -> None:
        try:
            received = os.read(self._wake_r, 64)
        except BlockingIOError:
            return
        for signum in received:
            if signum == signal.SIGHUP:
                self.rollout.begin(self, "SIGHUP")
                continue
            now = time.monotonic()
            repeated = signum == signal.SIGTERM == self.last_signal[0]
            if repeated and now - self.last_signal[1] < REPEAT_WINDOW:
                # uWSGI and some process managers resend SIGTERM every second while
                # they wait: that is still the first request, not a second one
                log.debug("SIGTERM repeated within %ss: still finishing jobs", REPEAT_WINDOW)
                self.last_signal = (signum, now)
                continue
            self.last_signal = (signum, now)
            if self.stopping:
                log.warning("second signal: stopping now, handing running jobs back")
                self._hand_back_all("second signal")
                continue
            log.info(
                "signal %d: finishing running jobs (up to %.0fs), claiming no more",
                signum,
                self.config.shutdown_timeout,
            )
            self.stopping = True
            self._announce_stopping(f"signal {signal.Signals(signum).name}")
            self.stop_deadline = time.monotonic() + self.config.shutdown_timeout
            self.restart_at.clear()
            for child in self.children.values():
                self._send(child, Stop())

    def _announce_stopping(self, reason: str) -> None:
        if not self.stopping_announced:
            self.stopping_announced = True
            signals.send(signals.worker_stopping, self.bb, worker_id=self.id, reason=reason)

    def _hand_back_all(self, why: str) -> None:
        for child in list(self.children.values()):
            self._hand_back(child, why)

    def _hand_back(self, child: Child, why: str) -> None:
        """Kill `child` and hand the jobs it holds back to the queue, uncounted."""
        child.process.kill()
        child.process.join()
        self._read(child)  # reports it sent before it was killed
        for job_id, held in child.jobs.items():
            self._release(job_id, held.token, why)
        child.jobs.clear()
        self._forget(child)

    def _release(self, job_id: str, token: int, why: str, forced: bool = False) -> None:
        """Hand a job back to its queue uncounted (`forced`: cancelled by force, it ends
        CANCELLED saying why), and say so in the log (which operators, and the chaos suite,
        read to explain a run that repeats an attempt number)."""
        if forced:
            ending = policy.handed_back_cancelled(job_id, token, why)
            ended = self._quietly(self.bb.store.end_attempts, [ending])
            released = None if ended is None else ended[0] is not None
        else:
            released = self._quietly(self.bb.store.release, job_id, token)
        if released is None:
            outcome = "failed; its lease lapses and it is rescued then"
        else:
            outcome = "ok" if released else "already finished"
        log.info("job %s handed back to the queue (%s): %s", job_id, why, outcome)

    # -- children ----------------------------------------------------------------------
    def _read(self, child: Child) -> None:
        for event in child.reports.read():
            match event:
                case Claimed():
                    child.jobs[event.job_id] = Held(
                        token=event.token,
                        attempts=event.attempts,
                        max_attempts=event.max_attempts,
                        retry_backoff=event.retry_backoff,
                        timeout=event.timeout,
                        cell=event.cell,
                    )
                case Started() if _holds(child, event):
                    self._began(child, event.job_id, event.at)
                case Finished() if _holds(child, event):
                    del child.jobs[event.job_id]
                case Exiting():
                    child.clean_exit = True
                case Ran():
                    self.history.count(event.queue, event.outcome)
                    if self.metrics is not None:
                        self.metrics.ran(event)
        self._look(child)

    def _look(self, child: Child) -> None:
        """Read in the child's `starts` table which of its jobs started or ended. A value
        in the cell of a job whose Finished is still in the pipe may be a later job's:
        that job ran anyway, and the pipe is read before a start is acted on."""
        for job_id, held in child.jobs.items():
            if held.cell < 0 or held.ended:
                continue
            at = child.starts.read(held.cell)
            if at != 0.0 and held.started is None:
                self._began(child, job_id, abs(at))
            held.ended = at < 0.0

    def _began(self, child: Child, job_id: str, at: float) -> None:
        held = child.jobs[job_id]
        held.started = at
        if held.cancel_grace is not None:  # cancelled by force before it began
            self._send(child, Cancel(job_id))

    def _reap(self, child: Child) -> None:
        self._read(child)  # outcomes sent before death are not failures
        child.process.join()
        code = child.process.exitcode
        self._forget(child)
        if child.jobs:
            self._fail_orphans(child, code)
        if self.stopping or (self.config.burst and code == EXIT_IDLE):
            return
        if child.retiring:
            log.info("child %d stopped for the reload (%s)", child.index, _describe(code))
            return
        if code == EXIT_RECYCLE:
            log.info("child %d recycled after %s jobs", child.index, self.config.max_jobs_per_child)
            self._spawn(child.index)
            return
        lived = time.monotonic() - child.started
        if child.force_cancelled is None:  # a child we killed on purpose did not crash
            self.crashes = self.crashes + 1 if lived < FAST_CRASH else 0
        delay = 0.0 if self.crashes == 0 else min(30.0, 0.25 * 2**self.crashes)
        log.warning(
            "child %d exited (%s); restarting in %.1fs", child.index, _describe(code), delay
        )
        self.restart_at[child.index] = time.monotonic() + delay

    def _fail_orphans(self, child: Child, code: int | None) -> None:
        """Record the attempts a dead child was running, so they retry without waiting
        for their leases to lapse. Jobs it had not started, jobs killed along with one
        that timed out or was cancelled by force, and jobs left by a child that ended
        normally (results it could not record) go back uncounted."""
        stopped = child.timed_out or child.force_cancelled  # the job it was killed for
        for job_id, held in child.jobs.items():
            collateral = stopped is not None and job_id != stopped
            if held.started is None or collateral or child.clean_exit:
                why = (
                    "never started"
                    if held.started is None
                    else f"its process was killed to stop job {stopped}"
                    if collateral
                    else "its outcome could not be recorded"
                )
                forced = held.started is not None and held.cancel_grace is not None
                self._release(job_id, held.token, why, forced)
                continue
            if job_id == child.timed_out:
                error = (
                    f"{JobTimeout.__name__}: the job ran longer than its timeout of "
                    f"{held.timeout}s and its worker process was killed"
                )
            else:
                error = f"WorkerDied: worker process died ({_describe(code)})"
            ending = policy.failed(job_id, held.token, error, policy.retry_at(held))
            if job_id == child.force_cancelled:
                ending = policy.cancelled_by_force(job_id, held.token, held.cancel_grace or 0.0)
            record = self._quietly(self.bb.store.get, job_id)  # its queue, for the history
            [status] = self._quietly(self.bb.store.end_attempts, [ending]) or [None]
            log.warning(
                "job %s: %s; %s",
                job_id,
                ending.error,
                _AFTER.get(ending.status, "out of attempts, failed"),
            )
            if record is not None:
                announce(self.bb, record, ending, status)
            self.history.ended(record, status, lapsed=False)
            if self.metrics is not None:
                self.metrics.ended(record, status, lapsed=False)

    def _forget(self, child: Child) -> None:
        self.children.pop(child.index, None)
        child.conn.close()
        child.reports.close()

    def _send(self, child: Child, command: Command) -> None:
        with contextlib.suppress(OSError):  # it is dying; its sentinel will tell
            child.conn.send(command)

    def _enforce_timeouts(self, now: float) -> None:
        for child in self.children.values():
            if child.timed_out is None and self._overran(child, now):
                self._read(child)  # it may have ended in time, its report not read yet
                job_id = self._overran(child, now)
                if job_id is not None:
                    log.warning(
                        "job %s overran its %ss timeout: killing child %d",
                        job_id,
                        child.jobs[job_id].timeout,
                        child.index,
                    )
                    child.timed_out = job_id
                    child.process.kill()

    def _enforce_cancels(self, now: float) -> None:
        for child in self.children.values():
            if child.timed_out is None and child.force_cancelled is None:
                child.force_cancelled = cancels.enforce(child, self._read, now - REPORT_GRACE)

    @staticmethod
    def _overran(child: Child, now: float) -> str | None:
        """A running job of `child` past its timeout (and the grace), if any."""
        for job_id, held in child.jobs.items():
            if (
                held.timeout is not None
                and held.started is not None
                and not held.ended
                and now - held.started > held.timeout + REPORT_GRACE
            ):
                return job_id
        return None

    # -- periodic work -----------------------------------------------------------------
    def _tick(self) -> None:
        store = self.bb.store
        for child in self.children.values():
            self._read(child)  # leases of jobs started since the last batch
        leases = {
            job_id: held.token for c in self.children.values() for job_id, held in c.jobs.items()
        }
        if leases:
            reply = self._quietly(store.heartbeat, self.id, leases, self.config.lease)
            if reply is not None:
                self._relay_cancels(reply.cancel_requested)
                cancels.learn(self.children.values(), reply.forced, time.monotonic())
                for job_id in reply.lost:  # usually just finished; the child warns if not
                    log.debug("job %s: lease no longer held", job_id)
        now = time.time()
        info = WorkerInfo(
            self.id,
            socket.gethostname(),
            os.getpid(),
            self.started_at,
            now,
            self.config.queues or (),
            tuple(leases),
            tuple(sorted(self.bb.tasks)),
        )
        self._quietly(store.record_worker, info)
        for rescued in self._quietly(store.rescue_lapsed, now) or []:
            log.warning("job %s: lease lapsed, rescued", rescued.record.id)
            announce(self.bb, rescued.record, rescued.ending, rescued.status)
            self.history.ended(rescued.record, rescued.status, lapsed=True)
            if self.metrics is not None:
                self.metrics.ended(rescued.record, rescued.status, lapsed=True)
        self.expiry.due(store, now)

    def _relay_cancels(self, job_ids: frozenset[str]) -> None:
        for child in self.children.values():
            for job_id in job_ids & child.jobs.keys():
                self._send(child, Cancel(job_id))


def _holds(child: Child, event: Started | Finished) -> bool:
    """Whether `child` holds the attempt `event` is about: a late report about an earlier
    attempt of a job it claimed again (from another of its threads) is ignored."""
    held = child.jobs.get(event.job_id)
    return held is not None and held.token == event.token


def _describe(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"signal {-code}, {name}"
    return f"exit code {code}"


def run(
    bb: Backburner, config: WorkerConfig, loader: Callable[[], Backburner] | None = None
) -> int:
    """Run a worker for `bb` with `config` in this process until it stops. It logs to the
    "backburner.worker" logger and configures no logging itself (see `output`). On reload
    (SIGHUP, or a changed file with `config.reload`) `loader` imports the app afresh for
    the new children; without one they are forked with the code already loaded."""
    return Supervisor(bb, config, loader).run()
