"""The Store protocol: the one interface every backend implements.

Only stores touch storage. Every method is safe to call from several threads of one
process and from many processes at once; the conformance suite in tests/conformance/
checks each guarantee below against every backend.

Times are Unix timestamps (float seconds). `token` is the fencing token a claim hands
out: it changes on every claim, so an outcome recorded with an older token is refused.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .. import defaults, policy
from ..errors import BackburnerError
from ..job import FINISHED, JobRecord, JobStatus
from ..logs import LogLine
from ..policy import Ending

RESCUE_BATCH = 500  # lapsed leases ended per store call, so no call holds the store long


@dataclass(frozen=True)
class HeartbeatReply:
    """What a heartbeat learned: leases no longer held, jobs asked to cancel, and of
    those, the ones cancelled by force, with the grace each gets (seconds)."""

    lost: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()
    forced: Mapping[str, float] = field(default_factory=dict)


class Done(NamedTuple):
    """A succeeded attempt to record: its job, its fencing token and its result."""

    job_id: str
    token: int
    result: str | None  # codec JSON


class Rescued(NamedTuple):
    """A lapsed attempt ended by `rescue_lapsed`: the job as it was, how it ended, and the
    status it now has."""

    record: JobRecord
    ending: Ending
    status: JobStatus


class Link(NamedTuple):
    """A job at the other end of a dependency: its id, its task and its status; task and
    status are None once it was purged (a purged dependency had succeeded)."""

    job_id: str
    task: str | None
    status: JobStatus | None

    def to_json(self) -> dict[str, str | None]:
        """{"id", "task", "status"}, as `backburner show --json` and the job API give it."""
        return {
            "id": self.job_id,
            "task": self.task,
            "status": None if self.status is None else self.status.value,
        }


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker process as operators see it in `backburner status`."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    queues: tuple[str, ...] = ()
    jobs: tuple[str, ...] = field(default=())
    tasks: tuple[str, ...] = ()  # the task names its app registers (`explain` reads them)


@dataclass(frozen=True)
class StoreStats:
    """What `Store.stats` read: the gauges `backburner metrics` serves.

    `jobs`: per queue, its pending jobs by status (QUEUED: due now, SCHEDULED, RUNNING, WAITING;
    statuses with none are left out). `oldest_due`: per queue with a due job still queued,
    the run_at of the oldest (its wait is now - run_at). `workers`: workers alive."""

    jobs: dict[str, dict[JobStatus, int]]
    oldest_due: dict[str, float]
    workers: int


@dataclass(frozen=True)
class Tick:
    """One tick of a schedule as the store keeps it, keyed by (`schedule`, `at`).

    `definition` and `generation` tell deploys apart: the definition of the schedule that
    ticked ("cron:...@tz", "every:30") and when the scheduler that stored it started.
    `job_id` is the job the tick made when `enqueued`; when it was skipped (a misfire),
    the schedule's job before it, if any. `missed` counts the misfires this row
    accounts for: ticks passed over before it, plus itself when skipped.
    """

    schedule: str
    at: float
    definition: str
    generation: float
    job_id: str | None
    enqueued: bool
    missed: int = 0
    recorded_at: float = 0.0


#: Rows a `Store.find_jobs` or `Store.count_jobs` call may examine where no index answers
#: the filter (Redis examines 20,000): what keeps a search bounded however many jobs are kept.
SCAN_LIMIT = 100_000


@dataclass(frozen=True)
class JobFilter:
    """What the dashboard's Jobs page asks for; None matches anything. `status` is as
    stores report it (a queued job not due yet is SCHEDULED). `search` is a job id
    (exact), or text found in the task name or in the arguments (the payload's JSON
    text), case-sensitive."""

    status: JobStatus | None = None
    queue: str | None = None
    task: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class JobPage:
    """One page of `find_jobs`: light records (as `get(light=True)`), newest first.

    `after` is the opaque cursor of the next (older) page, None when there is no more.
    `scanned` is None when the page is complete; otherwise the call stopped after
    examining SCAN_LIMIT jobs (their number is `scanned`) without filling the page, and
    `after` resumes the search below them."""

    jobs: list[JobRecord]
    after: str | None
    scanned: int | None = None


@dataclass(frozen=True)
class HistoryPoint:
    """How many attempts ended with `outcome` ("succeeded", "failed", "retried",
    "cancelled" or "lapsed") in queue `queue` during the UTC minute starting at `minute`."""

    minute: float
    queue: str
    outcome: str
    count: int


@dataclass(frozen=True)
class AuditEntry:
    """One operator action, as the Audit page and `backburner audit` show it.

    `actor`: the dashboard user's name, or "cli:<os user>"; `source`: the client's
    address, or the host the CLI ran on; `target`: a job id, a queue, a schedule, or a
    filter ("status=failed task=x"). `seq` is assigned by the store, increasing."""

    at: float
    actor: str
    action: str
    target: str
    detail: str = ""
    source: str = ""
    seq: int = 0


class Store(ABC):
    """A durable home for jobs. Subclasses implement every abstract method."""

    scan_limit = SCAN_LIMIT  # rows find_jobs may examine; a store or a test may lower it

    def __init__(self, url: str, *, result_ttl: float = defaults.RESULT_TTL) -> None:
        self.url = url
        self.result_ttl = result_ttl

    # -- producing ---------------------------------------------------------------------
    @abstractmethod
    def enqueue(self, records: Sequence[JobRecord]) -> list[str]:
        """Store `records` atomically: all of them or none.

        A record whose `unique_key` matches a job that is scheduled, queued or running is
        not stored; its slot in the returned list holds that existing job's id. Otherwise
        the slot holds the record's own id. Status is derived from `run_at` (SCHEDULED
        while in the future). Raises StoreUnavailable if the store cannot be reached.

        A record with `depends_on` (ids of stored jobs, or of earlier records of the same
        call) starts as `deps.starts` says: QUEUED when every dependency has succeeded,
        else WAITING; CANCELLED at once, with the reason, when one failed or was
        cancelled. An id no job has raises ValueError, storing nothing. Any number of
        records is stored in one transaction (one script on Redis).
        """

    def transaction(self, connection: object) -> AbstractContextManager[None]:
        """Within the block, `enqueue` writes on `connection`'s current transaction, so the
        jobs exist only if the caller's transaction commits.

        Only a store in the same database as the caller's data can do that: PostgresStore
        and SQLiteStore override this (and MemoryStore, which holds the block's jobs until
        it exits cleanly). Every other store raises BackburnerError saying so.
        """
        # the scheme, not the URL: a URL may carry a password, and messages end up in logs
        scheme = urlsplit(self.url).scheme
        raise BackburnerError(
            f"{type(self).__name__} ({scheme}://) cannot enqueue inside your database "
            "transaction: transactional enqueue needs the PostgreSQL store (postgresql://...) "
            "or the SQLite store on your database's file; use such a URL, or call delay() "
            "after your transaction commits"
        )

    # -- periodic jobs -----------------------------------------------------------------
    @abstractmethod
    def enqueue_tick(self, tick: Tick, record: JobRecord | None) -> bool:
        """Store `tick` and, with `record`, its job (as `enqueue` would), atomically: both
        or neither. Returns False, storing nothing, when the store holds a tick of this
        schedule at this instant already, or when the schedule's latest tick has another
        definition and a later generation (a newer deploy took the schedule over).

        This is what makes a tick's job exist once however many schedulers race for it.
        `tick.job_id` is replaced by the id of the job `record` made (or of the live job
        holding its `unique_key`).
        """

    @abstractmethod
    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        """The latest stored tick of each schedule named that has one."""

    @abstractmethod
    def prune_ticks(self, before: float) -> int:
        """Delete ticks before `before`, except each schedule's latest; returns how many."""

    # -- consuming ---------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str] | None, worker_id: str, limit: int, lease_s: float
    ) -> list[JobRecord]:
        """Take up to `limit` due jobs from `queues` (None: every queue).

        Order: highest priority first, then earliest `run_at`, then enqueue order. Each job
        returned is RUNNING, with `attempts` one higher, a fresh `token`, `worker_id` set and
        `lease_until` = now + `lease_s`. No job is handed to two claimers for one attempt.

        Flow control: jobs of paused queues are not taken. A job is passed over, keeping its
        place, while `concurrency` jobs with its `concurrency_key` are running, or while
        `rate_limit` jobs with its `rate_key` started in the last `rate_period` seconds;
        the claim takes the jobs behind it instead. Racing claimers together never exceed
        a limit, and every start taken counts in its rate window.
        """
        return self.complete_and_claim((), queues, worker_id, limit, lease_s)[1]

    @abstractmethod
    def claim_job(self, job_id: str, worker_id: str, lease_s: float) -> JobRecord | None:
        """Claim this one job, as `claim` would, if it is queued and due; else None.

        Eager mode runs the job it just enqueued this way, and leaves every other job
        where it is. Nothing else in the store changes. Paused queues and rate limits do
        not apply; the job holds its concurrency slot while it runs.
        """

    @abstractmethod
    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease_s: float
    ) -> HeartbeatReply:
        """Extend to now + `lease_s` every lease in `leases` (job id -> token) still held.

        Reports which leases are lost (token no longer current or job not running), which
        held jobs have had cancel requested, and, of those, which were cancelled by force
        (with their `cancel_grace`).
        """

    @abstractmethod
    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        """Mark the job SUCCEEDED with `result` (codec JSON) if `token` is still current.

        In the same transaction (script), each WAITING dependent whose dependencies have now
        all succeeded becomes QUEUED, and idle workers are woken for it.
        Returns False, changing nothing, when the attempt no longer holds the job.
        """

    @abstractmethod
    def complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[JobRecord]]:
        """`complete()` each of `done`, then `claim()` up to `limit` jobs (none if 0), in
        one transaction or round trip: a busy worker's hot path, which records a batch of
        jobs and takes the next in one go.

        Returns whether each completion was accepted, and the jobs claimed; the guarantees
        are those of `complete()` and `claim()`.
        """

    @abstractmethod
    def end_attempts(self, endings: Sequence[Ending]) -> list[JobStatus | None]:
        """Apply each `Ending` (decided by `backburner.policy`) to its running attempt,
        atomically per ending and in one transaction or round trip where the store can.

        An ending is applied only while its `token` still holds the job, and, when it has
        `lapsed_before`, only while the job's lease lapsed before that time. Returns, for
        each, the status the job now has (the ending's `status`, or its `if_cancelled`), or
        None where it was refused, changing nothing. Workers waiting for the job's queue
        are woken when it becomes pending again. A job left FAILED or CANCELLED cancels its
        WAITING dependents, theirs in turn and so on, in the same transaction (script),
        each with the reason (`deps.reason`).
        """

    def fail(self, job_id: str, token: int, error: str, retry_at: float | None) -> bool:
        """Record a failed attempt if `token` is still current; returns False otherwise.

        `error` is appended to the job's failures. With `retry_at` the job becomes pending
        again, due at `retry_at`; with None it is FAILED. A job with cancel requested
        becomes CANCELLED instead of being retried (see `policy.failed`).
        """
        return self.end_attempts([policy.failed(job_id, token, error, retry_at)])[0] is not None

    def release(self, job_id: str, token: int) -> bool:
        """Hand a running job back to its queue without counting the attempt (graceful
        shutdown, or claimed and never started). Only if `token` is current; returns whether
        it was released. A job with cancel requested is CANCELLED instead."""
        return self.end_attempts([policy.handed_back(job_id, token)])[0] is not None

    @abstractmethod
    def set_progress(self, job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        """Store `progress` ({"done", "total", "message"}) if `token` is still current."""

    @abstractmethod
    def lapsed(self, now: float, limit: int) -> list[JobRecord]:
        """Up to `limit` running jobs whose lease lapsed before `now`, earliest first.

        Read only: `rescue_expired()` decides what becomes of them and ends them.
        """

    def rescue_lapsed(self, now: float | None = None) -> list[Rescued]:
        """End every running attempt whose lease lapsed before `now`, as `policy.after_lapse`
        decides (retried at once while attempts remain, else FAILED; CANCELLED when cancel
        was requested), recording the lapse as that attempt's failure. An attempt whose
        worker recorded its outcome or renewed its lease meanwhile is left alone."""
        now = time.time() if now is None else now
        rescued: list[Rescued] = []
        while True:
            batch = self.lapsed(now, RESCUE_BATCH)
            endings = [policy.after_lapse(r, now) for r in batch]
            statuses = self.end_attempts(endings) if endings else []
            rescued += [
                Rescued(r, e, s) for r, e, s in zip(batch, endings, statuses) if s is not None
            ]
            if len(batch) < RESCUE_BATCH or not any(statuses):
                return rescued

    def rescue_expired(self, now: float | None = None) -> list[str]:
        """`rescue_lapsed()`, returning the ids rescued."""
        return [r.record.id for r in self.rescue_lapsed(now)]

    @abstractmethod
    def wait_for_work(self, queues: Sequence[str] | None, timeout: float) -> None:
        """Block up to `timeout` seconds, returning early when work may be due.

        A hint, not a promise: returning does not mean a claim will succeed. Jobs a claim
        would pass over (paused queue, over a limit) are not work: while every due job is
        one of them, it waits for the next rate-window edge, or the end of a running job.
        """

    @abstractmethod
    def stop_waiting(self) -> None:
        """End every `wait_for_work` on this store object now, and make each later one
        return at once: its worker is stopping, and an idle thread must not sit out its
        timeout before it sees that. For good (the process is about to exit). Never
        raises; call it from a thread, not from a signal handler."""

    def handed_over(self) -> bool:
        """Whether this thread's `wait_for_work` took a job an enqueue handed it, already
        claimed (Redis does so), which its next claim returns: the worker claims it at once,
        and a thread that claims no more hands it back, rather than leaving it to its lease."""
        return False

    # -- reading and operating ---------------------------------------------------------
    @abstractmethod
    def get(self, job_id: str, *, light: bool = False) -> JobRecord | None:
        """The job with this id, or None; None too for an id no job can have (one holding
        a NUL, say), never an error.

        `light=True` reads what a status view shows and not what may be large: the record
        comes back with `payload` "" and `failures` () whatever is stored, which are not
        read from the store (the job API polls this way, however big the arguments).
        """

    @abstractmethod
    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Jobs matching every filter given, newest first, `limit` from `offset`."""

    @abstractmethod
    def counts(self) -> dict[str, dict[JobStatus, int]]:
        """Number of jobs per queue per status; statuses with no job are left out."""

    @abstractmethod
    def stats(self, now: float, alive_since: float) -> StoreStats:
        """The monitoring gauges at `now` (see StoreStats), workers alive counted by a
        heartbeat at or after `alive_since`. Read with bounded work: only pending jobs are
        counted, through the indexes that claims use, so a scrape costs the same however
        many finished jobs are kept (finished jobs are counted as they end, by the workers'
        backburner_jobs_total)."""

    @abstractmethod
    def cancel(self, job_id: str, *, grace: float | None = None) -> bool:
        """Cancel a pending or WAITING job (True), and with it, atomically, its WAITING
        dependents (transitively, see `end_attempts`). For a running job set
        cancel_requested, so it is not retried and the task can stop early (False).
        Finished or unknown: False.

        With `grace` (a forced cancel) a running job's `cancel_grace` becomes `grace` too,
        which heartbeats report: the worker holding it stops its process if it has not
        returned `grace` seconds after being told. A later cancel without `grace` leaves it."""

    @abstractmethod
    def count_ahead(self, job_id: str, limit: int) -> int:
        """How many due jobs of its queue a claim would take before the pending job
        `job_id` (higher priority; or equal priority and earlier `run_at`; or both equal
        and enqueued earlier), counting at most `limit`, so the answer costs at most that
        many rows. 0 for a job that is not pending, or unknown. Read only."""

    @abstractmethod
    def retry(self, job_id: str) -> bool:
        """Queue a FAILED or CANCELLED job again now, with a fresh set of attempts; its
        failure history is kept, its last failure marked with the time of this retry
        (`Failure.retried_at`). Returns False for any other job, and for one whose own
        dependencies have not all succeeded (retry those). The jobs below it that were
        cancelled for a dependency wait again, transitively, unless another of their
        dependencies failed or was cancelled."""

    @abstractmethod
    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        """Delete finished jobs in `statuses` that finished before `older_than` (any time
        when None). Pending and running jobs are never purged, nor a finished job one of
        whose dependents has not finished (it may need the result). Returns how many."""

    def prune(self, now: float) -> int:
        """Delete finished jobs kept longer than `result_ttl`. Returns how many."""
        return self.purge(statuses=FINISHED, older_than=now - self.result_ttl)

    @abstractmethod
    def dependent_ids(self, job_id: str) -> list[str]:
        """Ids of the jobs that depend on `job_id` (`options(depends_on=...)`), oldest
        first; [] for an unknown job."""

    def dependencies(self, job_id: str) -> list[Link]:
        """The jobs `job_id` depends on, in the order given, each with its status now: what
        a WAITING job waits on (`bb.explain`, `backburner show`). [] for an unknown job."""
        record = self.get(job_id, light=True)
        return [] if record is None else self.links(record.depends_on)

    def dependents(self, job_id: str) -> list[Link]:
        """The jobs that depend on `job_id`, each with its status now."""
        return self.links(self.dependent_ids(job_id))

    def links(self, ids: Sequence[str]) -> list[Link]:
        """The jobs `ids` as Links, in order: id, task and status now (None once purged)."""
        links = []
        for other in ids:
            found = self.get(other, light=True)
            links.append(
                Link(other, None, None) if found is None else Link(other, found.task, found.status)
            )
        return links

    def migrate(self) -> int:
        """Create or upgrade the store's schema now (stores also do it on first use unless
        told not to); returns the schema version, 0 for stores without one."""
        return 0

    # -- job logs ----------------------------------------------------------------------
    @abstractmethod
    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        """Add each job's lines (job id -> lines, oldest first) to the end of its log,
        in one transaction or round trip. Each line gets the next number of its job's log
        (`seq`: 1, 2, ... in the order stored; the `seq` given is ignored), so a reader
        resumes after the last number it saw. Lines of a job that is not stored (purged
        meanwhile) are dropped. A job's log goes with the job (purge, prune).
        """

    @abstractmethod
    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        """The lines of the job's log numbered above `after`, of `attempt` only when
        given, in order; [] for an unknown job."""

    # -- flow control ------------------------------------------------------------------
    @abstractmethod
    def pause(self, queue: str) -> None:
        """Stop claims from `queue` until `resume(queue)`; enqueueing goes on, running jobs
        finish. Durable: the paused state lives in the store."""

    @abstractmethod
    def resume(self, queue: str) -> None:
        """Let claims take jobs from `queue` again, and wake workers waiting for work."""

    @abstractmethod
    def paused_queues(self) -> set[str]:
        """The names of the paused queues (for `explain`: a queued job waits because its
        queue is in this set)."""

    @abstractmethod
    def concurrency_holders(self, key: str) -> list[str]:
        """Ids of the running jobs holding a slot of concurrency key `key` (for `explain`:
        a queued job whose `concurrency` is at most their number waits for one to end).
        A job holds its slot from its claim until its attempt ends in any way, including
        the rescue of a lapsed lease."""

    @abstractmethod
    def rate_window_until(self, key: str, limit: int) -> float | None:
        """When the sliding window of rate key `key` next has room for a start, for a job
        allowing `limit` starts per window: the time the oldest start in the full window
        leaves it. None when it has room now (for `explain`)."""

    # -- dashboard ---------------------------------------------------------------------
    @abstractmethod
    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        """Jobs matching every field of `filter`, newest first (enqueue order),
        keyset-paginated: `after` is the cursor a previous page returned, so jobs enqueued
        meanwhile shift nothing. Bounded work whatever the store holds: where no index
        answers the filter, at most SCAN_LIMIT jobs are examined (see JobPage.scanned)."""

    @abstractmethod
    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        """How many jobs match `filter`, counting at most `cap` (cap means "cap or
        more"), so the answer costs at most that many rows."""

    @abstractmethod
    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete these jobs where finished, with their logs, except one whose dependents
        have not all finished (it may need the result, as in `purge`). Returns how many
        were deleted; the others, and unknown ids, are left alone."""

    @abstractmethod
    def add_history(self, counts: Mapping[tuple[float, str, str], int]) -> None:
        """Add counts per (minute, queue, outcome) to the stored ones (an upsert that
        sums, so workers writing the same minute at once lose nothing)."""

    @abstractmethod
    def history(self, since: float, *, step: int = 60) -> list[HistoryPoint]:
        """The history points of minutes at or after `since`, oldest first (then by
        queue, outcome). With `step` (seconds, a multiple of 60) the minutes are summed
        into buckets of that length, aligned on the epoch, each point's `minute` the
        bucket's start: a day in 15-minute buckets is 96 points per queue and outcome,
        not 1,440."""

    @abstractmethod
    def prune_history(self, before: float) -> int:
        """Delete the history points of minutes before `before`; returns how many."""

    @abstractmethod
    def record_audit(self, entry: AuditEntry) -> None:
        """Store `entry`; its `seq` is replaced by the next number of the log."""

    @abstractmethod
    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """Up to `limit` audit entries, newest first; with `before`, only those whose
        `seq` is below it (the next page)."""

    # -- workers -----------------------------------------------------------------------
    @abstractmethod
    def record_worker(self, info: WorkerInfo) -> None:
        """Create or update the entry of a live worker."""

    @abstractmethod
    def remove_worker(self, worker_id: str) -> None:
        """Delete a worker's entry (it stopped)."""

    @abstractmethod
    def list_workers(self, alive_since: float) -> list[WorkerInfo]:
        """Workers whose last heartbeat is at or after `alive_since`; older entries may be
        deleted as a side effect."""

    @abstractmethod
    def close(self) -> None:
        """Release connections held by this process. The store may be used again after."""


def check_statuses(statuses: Collection[JobStatus]) -> None:
    """Refuse to purge anything that is not finished: pending and running jobs are live."""
    live = [s.value for s in statuses if s not in FINISHED]
    if live:
        raise ValueError(
            f"purge only deletes finished jobs (succeeded, failed, cancelled), not {live}; "
            "cancel them first"
        )
