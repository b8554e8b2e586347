"""How a child batches its store calls: claims sized to the pace of its jobs, results
recorded together with the next claim, and jobs handed back when they wait too long.

Short jobs are claimed and recorded in batches, so a busy worker makes one store call per
batch instead of two per job. A thread claims as many jobs as it expects to run in
BATCH_WINDOW (one at a time once they take that long), and a succeeded job is recorded
with the thread's next claim or, at the latest, about FLUSH_AFTER after it ended. A job
claimed but not started within HOLD_LIMIT (behind a slow one) goes back to the queue, so
a batch never holds back results, nor work another process could do. Other reports to
the supervisor (a failed job let go) wait the same way, so a busy child sends one message
a claim, not one a job.

While the queue is busy and a child's threads claim a few jobs at a time (jobs that wait,
on several threads), the batch thread claims ahead: once a pick leaves the child holding
fewer than AHEAD_DEPTH full claims' worth, it claims more (recording the results waiting),
and a thread that finds nothing waits for that claim. So the threads running jobs seldom
spend a claim's round trip themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import StoreUnavailable
from ..job import JobRecord
from ..stores.base import Done
from .messages import Claimed, Event, Finished, Ran
from .runner import lease_lost
from .starts import Starts

if TYPE_CHECKING:
    from ..app import Backburner
    from .supervisor import WorkerConfig

log = logging.getLogger("backburner.worker")
BATCH_WINDOW = 0.005
MAX_BATCH = 16
FLUSH_AFTER = 0.005
HOLD_LIMIT = 0.1
AHEAD_DEPTH = 2  # claims' worth of jobs the child keeps in hand, to ride out a slow one
STOP_CHECK = 0.1  # a thread waiting for a claim ahead looks at the child's stop this often
RETRY_STORE = 1.0  # seconds before trying again a store that could not be reached

HandBack = Literal["stale", "stopping", "untold"]


class Send(Protocol):
    """Sends events to the supervisor, in one message."""

    def __call__(self, *events: Event) -> None: ...


class Pace:
    """How long a thread's jobs take (a moving average), to size its claims.

    A claim is for the whole child: the jobs it holds go to whichever of its `threads`
    is free first. So a thread claims as many jobs as the child's threads together start
    in BATCH_WINDOW: with 8 threads running 10 ms jobs, 4 a claim, and most jobs then
    start without a store call of their own."""

    def __init__(self, threads: int = 1) -> None:
        self.mean: float | None = None
        self.threads = threads

    def observe(self, seconds: float) -> None:
        self.mean = seconds if self.mean is None else 0.8 * self.mean + 0.2 * seconds

    def batch(self) -> int:
        """How many jobs to claim next: 1 until a job was timed, at most MAX_BATCH."""
        if self.mean is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_WINDOW * self.threads / max(self.mean, 1e-6))))


@dataclass(frozen=True)
class Claim:
    """The answer to `Batches.claim`: the jobs claimed, and the events that tell the
    supervisor about them and about the results recorded in the same store call (for the
    caller to send before any of these jobs can start). `used_up`: nothing was claimed because this
    child has run its --max-jobs-per-child (a job handed over meanwhile went back)."""

    records: tuple[JobRecord, ...] = ()
    events: tuple[Event, ...] = ()
    used_up: bool = False


class Slots:
    """--max-jobs-per-child: how many more jobs this child may claim (None: no limit).
    A job takes its slot when claimed, so each counts once however many threads claim."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self._lock = threading.Lock()

    @property
    def used_up(self) -> bool:
        return self.left == 0

    def take(self, wanted: int) -> int:
        """Take up to `wanted` slots; returns how many were taken."""
        with self._lock:
            if self.left is None:
                return wanted
            granted = min(wanted, self.left)
            self.left -= granted
            return granted

    def give_back(self, count: int) -> None:
        with self._lock:
            if self.left is not None:
                self.left += count


class Batches:
    """What a child holds between store calls, shared by its threads: claimed jobs not
    started yet, succeeded jobs not recorded yet, and events not sent yet. Threads record
    results and send events with their next `claim`; `run`, in a thread of its own, does
    so for those that waited FLUSH_AFTER, and hands back jobs left unstarted for
    HOLD_LIMIT. Each job claimed gets a cell in `starts` (the supervisor's view of it)."""

    def __init__(
        self,
        bb: Backburner,
        config: WorkerConfig,
        worker_id: str,
        send: Send,
        starts: Starts | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.slots = Slots(config.max_jobs_per_child)
        self.starts = starts if starts is not None else Starts.for_threads(config.threads)
        self._bb = bb
        self._config = config
        self._worker_id = worker_id
        self._send = send
        self._stop = stop if stop is not None else threading.Event()  # the child's
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._results: list[Done] = []
        self._events: list[Event] = []  # for the supervisor, sent with the results
        # with metrics on, what to report of each result once the store accepted it
        self._ran: dict[tuple[str, int], Ran] = {}
        self._since = 0.0  # when the oldest result or event waiting arrived
        self._claimed: deque[tuple[float, JobRecord]] = deque()  # (claimed at, job)
        self._landed = threading.Condition(lock)  # a claim ahead landed
        # claiming ahead: how many (the size of the last full claim; 0: not now), whether
        # the batch thread is to, or is doing it, and whether the child stopped claiming
        self._ahead = 0
        self._ahead_due = False
        self._ahead_busy = False
        self._ahead_off = False
        self._waiting = 0  # threads waiting for a claim ahead to land
        self._closed = False
        # called before results are recorded: stores the jobs' last output lines first
        self.before_record: Callable[[], None] = lambda: None

    # -- claiming and handing back -----------------------------------------------------
    def claim(self, wanted: int) -> Claim:
        """Record the results waiting and claim up to `wanted` due jobs, in one store call.
        Raises StoreUnavailable if the store cannot be reached: then nothing is claimed and
        the results wait for the next call."""
        claim = self._claim(wanted)
        # A full claim: the queue is busy, so claim ahead that many, for a child whose
        # threads wait on I/O (several threads). Not one at a time: then the threads start
        # fewer than two a BATCH_WINDOW, and a job claimed ahead would wait behind a slow
        # one and go back stale. Nor MAX_BATCH, nor with one thread: jobs that short, or
        # on one thread, are bound by the CPU, which a claim in another thread does not
        # give more of, and the hand-offs between threads cost more than they save (a
        # drain of no-op jobs, -p 2 -t 1, ran at 0.64x-0.80x with claims ahead).
        with self._cond:
            full = len(claim.records) == wanted
            several = self._config.threads > 1
            self._ahead = wanted if full and several and 1 < wanted < MAX_BATCH else 0
        return claim

    def _claim(self, wanted: int) -> Claim:
        limit = self.slots.take(wanted)
        if limit == 0:
            self.let_go_handed()
            return Claim(used_up=True)
        claim = Claim()
        try:
            claim = self._exchange(limit)
        finally:  # whatever raised: a slot of a job not claimed is free again
            self.slots.give_back(limit - len(claim.records))
        return claim

    def _exchange(self, limit: int) -> Claim:
        """Record the results waiting and claim up to `limit` jobs, in one store call, with
        the events waiting. If it raises (the store cannot be reached, or a bug), the
        results and events it took wait for the next call: none is lost."""
        done, events = self._take()
        if not done and not limit:
            return Claim(events=tuple(events))
        try:
            claim = self._settle(done, limit)
        except BaseException:
            self.report(*events)
            raise
        return Claim(claim.records, (*events, *claim.events))

    def let_go_handed(self) -> None:
        """Hand back, uncounted, a job the store handed this thread as it waited for work
        (`Store.handed_over`), for a thread that claims no more (its child out of slots,
        or stopping). The job is claimed already: left there, its lease would lapse at the
        cost of an attempt. The supervisor hears of it first, so should the release fail
        it hands the job back itself once the child exits. No slot is taken."""
        if not self._bb.store.handed_over():
            return
        handed = self._settle([], 0)  # the job handed over, and no other: no round trip
        try:
            self._send(*handed.events)
        finally:
            self.hand_back(handed.records, "stopping")

    def hand_back(self, records: Iterable[JobRecord], why: HandBack) -> None:
        """Release claimed jobs that no thread started, without counting an attempt, and
        tell the supervisor this child no longer holds them.

        "stale": held HOLD_LIMIT behind a slow job, so another process may run it. It never
        ran, so its slot is given back; if the store cannot be reached it is held a while
        longer (a thread of this child may still run it), unless the child is stopping
        (`unstarted`): then it is the supervisor's to hand back as the child exits.
        "stopping": the child is ending. A failed release is logged (the lease lapses
        instead), and the slot stays taken: a child out of slots exits as recycled, so the
        supervisor starts a new one, even with --burst, for the jobs handed back.
        "untold": claimed ahead, but the message telling the supervisor failed, so none
        may start. It never ran, so its slot is given back; a failed release is logged (the
        lease lapses: the supervisor, not told, cannot hand it back)."""
        events: list[Event] = []
        kept: list[JobRecord] = []
        for record in records:
            try:
                self._bb.store.release(record.id, record.token)
            except Exception as exc:  # any store error: never the batch thread's end
                if why != "stale" or not isinstance(exc, StoreUnavailable):
                    log.exception("job %s: could not hand it back", record.id)
                if why == "stale":
                    kept.append(record)
                # else no Finished: "stopping", it is still the supervisor's, which hands it
                # back uncounted once this child exits (a Finished now would leave its lease
                # to lapse and cost an attempt of a job that never ran)
                continue
            if why != "stopping":
                self.slots.give_back(1)
            events.append(Finished(record.id, record.token))
        with self._cond:
            if kept and not self._ahead_off:  # once stopping, they would only go stale again
                self.hold(kept)
        self._tell(*events)

    def _tell(self, *events: Event) -> None:
        """Send events to the supervisor; should that raise (a bug), they wait for the
        next message."""
        try:
            self._send(*events)
        except BaseException:
            if events:
                self.report(*events)
            raise

    def _settle(self, done: list[Done], limit: int) -> Claim:
        """Record `done` and claim up to `limit` jobs in one store call. If that call is
        not made (the store cannot be reached, or `before_record` raised), `done` is kept
        for the next try and the error raised; once made, it returns the events telling
        the supervisor of every job it settled or claimed, whatever else fails."""
        config = self._config
        if done:
            try:
                self.before_record()
            except BaseException:
                self._put_back(done)
                raise
        try:
            accepted, claimed = self._bb.store.complete_and_claim(
                done, config.queues, self._worker_id, limit, config.lease
            )
        except StoreUnavailable:
            self._put_back(done)
            raise
        except Exception:  # their leases lapse and they run again: at least once holds
            log.exception("could not record the outcome of job(s) %s", [d.job_id for d in done])
            accepted, claimed = [], []
        try:
            return Claim(tuple(claimed), tuple(self._told(done, accepted, claimed)))
        except Exception:  # a bug: the supervisor must still hear of each job, or it holds it
            log.exception("could not account for job(s) %s", [d.job_id for d in done])
            for r in claimed:
                self.starts.release(r.id, r.token)  # no cell: its start goes by pipe
            finished = (Finished(d.job_id, d.token) for d in done)
            return Claim(tuple(claimed), (*finished, *(Claimed.of(r) for r in claimed)))

    def _told(
        self, done: list[Done], accepted: list[bool], claimed: list[JobRecord]
    ) -> list[Event]:
        """The events for a store call that recorded `done` (`accepted`: which it took)
        and claimed `claimed`; each claimed job gets its cell in `starts`."""
        events: list[Event] = []
        for i, d in enumerate(done):
            ran = self._ran.pop((d.job_id, d.token), None) if self._ran else None
            if i < len(accepted) and not accepted[i]:
                lease_lost(d.job_id)
            elif ran is not None and i < len(accepted):  # counted once recorded, only then
                events.append(ran)
            events.append(Finished(d.job_id, d.token))
        events.extend(Claimed.of(r, self.starts.claim(r.id, r.token)) for r in claimed)
        return events

    # -- claimed jobs ------------------------------------------------------------------
    def hold(self, records: Iterable[JobRecord]) -> None:
        """Keep claimed jobs until a thread takes them with `next_job`."""
        with self._cond:
            now = time.monotonic()
            self._claimed.extend((now, r) for r in records)
            self._cond.notify()

    def next_job(self) -> JobRecord | None:
        """The oldest claimed job no thread started yet. If none while the queue is busy,
        waits for the batch thread's claim ahead; None once the queue runs dry (then the
        thread claims, or waits for work, itself)."""
        with self._cond:
            while not self._claimed and (self._ahead_busy or self._ahead_wanted()):
                self._want_ahead()
                self._waiting += 1
                self._landed.wait(STOP_CHECK)  # the child's stop sets an Event, no notify
                self._waiting -= 1
            if not self._claimed or self._stop.is_set():
                return None
            record = self._claimed.popleft()[1]
            if len(self._claimed) < AHEAD_DEPTH * self._ahead:
                self._want_ahead()
            return record

    def _ahead_wanted(self) -> bool:
        return self._ahead > 0 and not self._ahead_off and not self._stop.is_set()

    def _want_ahead(self) -> None:
        """Ask the batch thread for a claim ahead (holding the condition)."""
        if self._ahead_wanted() and not (self._ahead_due or self._ahead_busy):
            self._ahead_due = True
            self._cond.notify()

    def unstarted(self) -> list[JobRecord]:
        """Take every claimed job not started (stopping: they are to be handed back); no
        claim ahead after this one, and one in flight hands its jobs back as it lands."""
        with self._cond:
            self._ahead_off = True
            taken = [r for _, r in self._claimed]
            self._claimed.clear()
            # a thread waiting for a claim ahead the batch thread has not begun: none will
            # land now, so it must look again (one in flight wakes its waiters as it lands)
            self._landed.notify_all()
        return taken

    def _claim_ahead(self) -> None:
        """The batch thread's claim for the child's threads, with the results waiting."""
        with self._cond:  # up to AHEAD_DEPTH claims' worth in hand, and one for each waiter
            short = AHEAD_DEPTH * self._ahead - len(self._claimed) + self._waiting
            wanted = min(MAX_BATCH, max(self._ahead, short))
        try:
            claim = self._claim(wanted)
        except Exception as exc:  # the threads' own claims retry and say why
            if not isinstance(exc, StoreUnavailable):
                log.exception("could not claim ahead")
            claim = Claim()
        told = False
        try:
            self._send(*claim.events)  # before any thread can start one of these jobs
            told = True
        finally:  # whatever raised, each job claimed is held or handed back
            self._land(claim, wanted, told)

    def _land(self, claim: Claim, wanted: int, told: bool) -> None:
        """Hold the jobs of a claim ahead for the child's threads, or hand them back if
        the child stopped claiming meanwhile or the supervisor was not `told` of them;
        and let the threads waiting for it go."""
        late: list[JobRecord] = []
        with self._cond:
            self._ahead_busy = False
            if len(claim.records) < wanted:  # the queue is running dry: threads claim
                self._ahead = 0
            if self._ahead_off or not told:
                late = list(claim.records)
            else:
                now = time.monotonic()
                self._claimed.extend((now, r) for r in claim.records)
            self._landed.notify_all()
        if not told:  # the rest of what it would have told goes with the next message
            self.report(*(e for e in claim.events if type(e) is not Claimed))
            self.hand_back(late, "untold")
        elif late:
            self.hand_back(late, "stopping")

    # -- results -----------------------------------------------------------------------
    def add(self, done: Done, ran: Ran | None = None) -> None:
        """A succeeded attempt, recorded with the next claim or within FLUSH_AFTER; `ran`
        (with metrics on) is sent to the supervisor once the store accepted it."""
        with self._cond:
            if ran is not None:
                self._ran[done.job_id, done.token] = ran
            if not self._results and not self._events:
                self._since = time.monotonic()
                self._cond.notify()
            self._results.append(done)

    def report(self, *events: Event) -> None:
        """Events for the supervisor that need not go at once (a failed job let go): sent
        with the next claim or within FLUSH_AFTER."""
        with self._cond:
            if not self._results and not self._events:
                self._since = time.monotonic()
                self._cond.notify()
            self._events.extend(events)

    def _take(self) -> tuple[list[Done], list[Event]]:
        with self._cond:
            taken, self._results = self._results, []
            events, self._events = self._events, []
        return taken, events

    def _put_back(self, done: list[Done]) -> None:
        """Keep results whose recording failed for the next try."""
        with self._cond:
            if not self._results and not self._events:
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
        """The batch thread's loop, until `close()` and the last results are recorded.

        It outlives an error (a bug, or the store out of reach): the child's threads wait
        on it for claims ahead, and its results on it to be recorded. So it logs the
        error, lets those threads go (they claim for themselves), and tries again after
        RETRY_STORE; once closed, it ends instead (the supervisor hands the jobs whose
        results were not recorded back uncounted)."""
        serving = True
        while serving:
            try:
                serving = self._serve()
            except StoreUnavailable as exc:
                log.warning("store unavailable, recording again in %ss: %s", RETRY_STORE, exc)
                serving = self._recover()
            except Exception:
                log.exception("batch thread: unexpected error; going on in %ss", RETRY_STORE)
                serving = self._recover()

    def _serve(self) -> bool:
        """One turn of the batch thread: hand back stale jobs, send the events waiting,
        claim ahead, record the results due; False once closed with nothing left."""
        with self._cond:
            flush, stale = self._due()
            if flush is None:
                return False
            ahead = self._ahead_due and self._ahead_wanted()
            if self._ahead_due and not ahead:  # stopped or dry: its waiters look again
                self._landed.notify_all()
            self._ahead_due = False
            self._ahead_busy = ahead
        self.hand_back(stale, "stale")  # first: taken from those held, none may be lost
        with self._cond:
            events, self._events = self._events, []
        self._tell(*events)
        if ahead:  # it records the results waiting too
            self._claim_ahead()
        if flush:  # results are taken only now: an error before leaves them waiting
            self._tell(*self._exchange(0).events)
        return True

    def _recover(self) -> bool:
        """After an error: let go of the threads waiting for a claim ahead, claim no more
        ahead until a full claim says the queue is busy again, and wait RETRY_STORE (less
        if closed meanwhile). False when already closed: then the batch thread ends."""
        with self._cond:
            self._ahead = 0
            self._ahead_due = self._ahead_busy = False
            self._landed.notify_all()
            if self._closed:
                return False
            deadline = time.monotonic() + RETRY_STORE
            while not self._closed and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
        return True

    def _due(self) -> tuple[bool | None, list[JobRecord]]:
        """Wait (holding the condition) for results or events to flush, jobs to hand back
        or a claim ahead to make: (flush, stale); (None, []) once closed with nothing left."""
        while True:
            now = time.monotonic()
            stale = []
            while self._claimed and now - self._claimed[0][0] >= HOLD_LIMIT:
                stale.append(self._claimed.popleft()[1])
            if self._ahead_due:  # the results waiting go with the claim
                return False, stale
            waiting = bool(self._results or self._events)
            flush = waiting and (self._closed or now - self._since >= FLUSH_AFTER)
            if flush or stale:
                return flush, stale
            if self._closed:
                return None, []
            deadlines = [self._claimed[0][0] + HOLD_LIMIT] if self._claimed else []
            if self._results or self._events:
                deadlines.append(self._since + FLUSH_AFTER)
            self._cond.wait(max(0.0, min(deadlines) - now) if deadlines else None)
