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
from ..policy import Ending

RESCUE_BATCH = 500  # lapsed leases ended per store call, so no call holds the store long


@dataclass(frozen=True)
class HeartbeatReply:
    """What a heartbeat learned: leases no longer held, and jobs asked to cancel."""

    lost: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()


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


class Store(ABC):
    """A durable home for jobs. Subclasses implement every abstract method."""

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

        Reports which leases are lost (token no longer current or job not running) and which
        held jobs have had cancel requested.
        """

    @abstractmethod
    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        """Mark the job SUCCEEDED with `result` (codec JSON) if `token` is still current.

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
        are woken when it becomes pending again.
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
    def cancel(self, job_id: str) -> bool:
        """Cancel a pending job (True). For a running job set cancel_requested, so it is
        not retried and the task can stop early (False). Finished or unknown: False."""

    @abstractmethod
    def retry(self, job_id: str) -> bool:
        """Queue a FAILED or CANCELLED job again now, with a fresh set of attempts; its
        failure history is kept, its last failure marked with the time of this retry
        (`Failure.retried_at`). Returns False for any other job."""

    @abstractmethod
    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        """Delete finished jobs in `statuses` that finished before `older_than` (any time
        when None). Pending and running jobs are never purged. Returns how many."""

    def prune(self, now: float) -> int:
        """Delete finished jobs kept longer than `result_ttl`. Returns how many."""
        return self.purge(statuses=FINISHED, older_than=now - self.result_ttl)

    def migrate(self) -> int:
        """Create or upgrade the store's schema now (stores also do it on first use unless
        told not to); returns the schema version, 0 for stores without one."""
        return 0

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
