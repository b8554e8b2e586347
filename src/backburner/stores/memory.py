"""`memory://`: a thread-safe store inside one process, for tests and experiments.

Jobs vanish with the process and are not shared with other processes (a worker pool
forks children that each get their own copy), so use it with `backburner.testing`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from .. import defaults
from ..job import ACTIVE, FINISHED, PENDING, Failure, JobRecord, JobStatus, pending_status
from ..logs import LogLine
from ..policy import Ending
from . import deps
from .base import Done, HeartbeatReply, Store, StoreStats, Tick, WorkerInfo, check_statuses
from .memory_dashboard import MemoryDashboard
from .memory_deps import MemoryDependencies
from .memory_limits import MemoryFlowControl
from .memory_ticks import MemoryTicks

# jobs held by transaction() blocks, per store, in this context (thread or asyncio task)
_held: ContextVar[Mapping[int, list[JobRecord]]] = ContextVar(
    "backburner_memory_transaction", default=MappingProxyType({})
)


class MemoryStore(MemoryTicks, MemoryDependencies, MemoryFlowControl, MemoryDashboard, Store):
    """Jobs in a dict guarded by one lock; claims scan the pending jobs."""

    def __init__(self, url: str = "memory://", *, result_ttl: float = defaults.RESULT_TTL) -> None:
        super().__init__(url, result_ttl=result_ttl)
        self._jobs: dict[str, JobRecord] = {}
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._workers: dict[str, WorkerInfo] = {}
        self._ticks: dict[str, dict[float, Tick]] = {}  # schedule -> tick time -> tick
        self._logs: dict[str, list[LogLine]] = {}
        self._dependents: dict[str, list[str]] = {}  # job id -> ids of jobs depending on it
        self._waiting_for: dict[str, int] = {}  # job id -> dependencies not succeeded yet
        self._paused: set[str] = set()
        self._starts: dict[str, list[float]] = {}  # rate key -> when each start leaves its window
        # reentrant: enqueue_tick enqueues its job while holding it
        self._changed = threading.Condition(threading.RLock())
        self._stopping = False  # stop_waiting() was called
        self._init_dashboard()

    def _view(self, record: JobRecord, now: float) -> JobRecord:
        if record.status in PENDING:
            return replace(record, status=pending_status(record.run_at, now))
        return record

    @contextmanager
    def transaction(self, connection: object) -> Iterator[None]:
        """Hold the jobs enqueued in the block (in this thread or asyncio task), and store
        them when it exits without an exception: what a transaction that commits at the
        end of the block would do. `connection` is not used: memory:// has no database
        to share. `unique_key` is applied when they are stored."""
        held: list[JobRecord] = []
        token = _held.set(MappingProxyType({**_held.get(), id(self): held}))
        try:
            yield
        finally:
            _held.reset(token)
        self.enqueue(held)

    def enqueue(self, records: Sequence[JobRecord]) -> list[str]:
        held = _held.get().get(id(self))
        if held is not None:  # inside transaction(): stored when the block exits cleanly
            held.extend(records)
            return [r.id for r in records]
        ids: list[str] = []
        with self._changed:
            clashes = [r.id for r in records if r.id in self._jobs]
            if clashes or len({r.id for r in records}) != len(records):
                raise ValueError(f"job id(s) already stored or repeated: {clashes}")
            # only a batch with unique keys pays for the scan of every stored job
            live_keys = (
                {
                    r.unique_key: r.id
                    for r in self._jobs.values()
                    if r.unique_key is not None and r.status in ACTIVE
                }
                if any(r.unique_key for r in records)
                else {}
            )
            starts = deps.starts(records, self._statuses)
            now = time.time()
            holder: dict[str, str] = {}  # a deduplicated record's id -> the live job's
            for record, start in zip(records, starts):
                existing = live_keys.get(record.unique_key) if record.unique_key else None
                if existing is not None:
                    ids.append(existing)
                    holder[record.id] = existing
                    continue
                ids.append(record.id)
                self._jobs[record.id] = replace(
                    record,
                    status=start.status,
                    error=start.error,
                    finished_at=now if start.error else None,
                )
                self._seq[record.id] = self._next_seq
                self._next_seq += 1
                if record.unique_key is not None and start.status in ACTIVE:
                    live_keys[record.unique_key] = record.id
                self._waiting_for[record.id] = start.waiting_for
                for dep in dict.fromkeys(record.depends_on):
                    self._dependents.setdefault(holder.get(dep, dep), []).append(record.id)
            self._changed.notify_all()
        return ids

    def complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[JobRecord]]:
        with self._changed:
            accepted = [self._complete(*d) for d in done]
            return accepted, self._claim(queues, worker_id, limit, lease_s)

    def _claim(
        self, queues: Sequence[str] | None, worker_id: str, limit: int, lease_s: float
    ) -> list[JobRecord]:
        if limit <= 0:
            return []
        now = time.time()
        due = self._due(queues, now)
        due.sort(key=lambda r: (-r.priority, r.run_at, self._seq[r.id]))
        running = self._running_per_key()
        claimed: list[JobRecord] = []
        for record in due:
            if len(claimed) == limit:
                break
            if record.limited and not self._admit(record, running, now):
                continue  # over a limit: it waits, and the claim looks further
            claimed.append(self._start(record, worker_id, now, lease_s))
        return claimed

    def _due(self, queues: Sequence[str] | None, now: float) -> list[JobRecord]:
        """Pending jobs due at `now` in `queues` (None: all), paused queues left out."""
        return [
            r
            for r in self._jobs.values()
            if r.status in PENDING
            and r.run_at <= now
            and (queues is None or r.queue in queues)
            and r.queue not in self._paused
        ]

    def _start(self, record: JobRecord, worker_id: str, now: float, lease_s: float) -> JobRecord:
        """A new attempt of `record`, held by `worker_id` (the lock is held)."""
        running = replace(
            record,
            status=JobStatus.RUNNING,
            attempts=record.attempts + 1,
            token=record.token + 1,
            worker_id=worker_id,
            lease_until=now + lease_s,
            started_at=now,
        )
        self._jobs[record.id] = running
        return running

    def claim_job(self, job_id: str, worker_id: str, lease_s: float) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            now = time.time()
            if record is None or record.status not in PENDING or record.run_at > now:
                return None
            return self._start(record, worker_id, now, lease_s)

    def _held(self, job_id: str, token: int) -> JobRecord | None:
        record = self._jobs.get(job_id)
        if record is None or record.status is not JobStatus.RUNNING or record.token != token:
            return None
        return record

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease_s: float
    ) -> HeartbeatReply:
        lost, cancel, forced = set(), set(), {}
        with self._changed:
            until = time.time() + lease_s
            for job_id, token in leases.items():
                record = self._held(job_id, token)
                if record is None:
                    lost.add(job_id)
                    continue
                self._jobs[job_id] = replace(record, lease_until=until)
                if record.cancel_requested:
                    cancel.add(job_id)
                if record.cancel_grace is not None:
                    forced[job_id] = record.cancel_grace
        return HeartbeatReply(frozenset(lost), frozenset(cancel), forced)

    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        with self._changed:
            return self._complete(job_id, token, result)

    def _complete(self, job_id: str, token: int, result: str | None) -> bool:
        record = self._held(job_id, token)
        if record is None:
            return False
        self._jobs[job_id] = replace(
            record,
            status=JobStatus.SUCCEEDED,
            result=result,
            finished_at=time.time(),
            lease_until=None,
        )
        self._release(job_id)
        self._changed.notify_all()
        return True

    def end_attempts(self, endings: Sequence[Ending]) -> list[JobStatus | None]:
        with self._changed:
            statuses = [self._end(e) for e in endings]
            if any(statuses):
                self._changed.notify_all()
            return statuses

    def _end(self, e: Ending) -> JobStatus | None:
        record = self._held(e.job_id, e.token)
        if record is None:
            return None
        if e.lapsed_before is not None and (record.lease_until or 0.0) >= e.lapsed_before:
            return None
        status = e.if_cancelled if record.cancel_requested else e.status
        changes: dict[str, Any] = {"status": status, "lease_until": None}
        if e.error is not None:
            changes["error"] = e.error
        if e.error is not None and e.in_history:
            changes["failures"] = (*record.failures, Failure(record.attempts, e.at, e.error))
        if not e.counted:
            changes.update(
                attempts=record.attempts - 1, started_at=None, worker_id=None, progress=None
            )
        if status is JobStatus.QUEUED:
            changes["run_at"] = record.run_at if e.run_at is None else e.run_at
        else:
            changes["finished_at"] = e.at
        self._jobs[e.job_id] = replace(record, **changes)
        if status in (JobStatus.FAILED, JobStatus.CANCELLED):
            self._doom(e.job_id, status, e.at)
        return status

    def set_progress(self, job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        with self._changed:
            record = self._held(job_id, token)
            if record is None:
                return False
            self._jobs[job_id] = replace(record, progress=dict(progress))
            return True

    def lapsed(self, now: float, limit: int) -> list[JobRecord]:
        with self._changed:
            expired = [
                r
                for r in self._jobs.values()
                if r.status is JobStatus.RUNNING and (r.lease_until or 0.0) < now
            ]
        expired.sort(key=lambda r: r.lease_until or 0.0)
        return expired[:limit]

    def wait_for_work(self, queues: Sequence[str] | None, timeout: float) -> None:
        with self._changed:
            if self._stopping:  # held since: its notify cannot slip past this wait
                return
            now = time.time()
            pending = [
                r
                for r in self._jobs.values()
                if r.status in PENDING
                and (queues is None or r.queue in queues)
                and r.queue not in self._paused
            ]
            running = self._running_per_key()
            edges: list[float] = []
            for r in pending:
                if r.run_at > now:
                    edges.append(r.run_at)
                    continue
                wait = self._blocked_until(r, running, now)
                if wait is None:
                    return  # due and within its limits
                edges.append(wait)  # inf: until a running job of its key ends
            if edges:
                timeout = min(timeout, max(0.0, min(edges) - now))
            self._changed.wait(timeout)

    def stop_waiting(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def get(self, job_id: str, *, light: bool = False) -> JobRecord | None:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None:
                return None
            view = self._view(record, time.time())
        # nothing to save in memory, but the same record as the other stores give
        return replace(view, payload="", failures=()) if light else view

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        now = time.time()
        with self._changed:
            ordered = sorted(self._jobs.values(), key=lambda r: -self._seq[r.id])
            views = [self._view(r, now) for r in ordered]
        matching = [
            r
            for r in views
            if (status is None or r.status is status)
            and (queue is None or r.queue == queue)
            and (task is None or r.task == task)
        ]
        return matching[offset : offset + limit]

    def counts(self) -> dict[str, dict[JobStatus, int]]:
        now = time.time()
        out: dict[str, dict[JobStatus, int]] = {}
        with self._changed:
            for record in self._jobs.values():
                status = self._view(record, now).status
                per_queue = out.setdefault(record.queue, {})
                per_queue[status] = per_queue.get(status, 0) + 1
        return out

    def stats(self, now: float, alive_since: float) -> StoreStats:
        jobs: dict[str, dict[JobStatus, int]] = {}
        oldest: dict[str, float] = {}
        with self._changed:
            for r in self._jobs.values():
                if r.status not in ACTIVE:
                    continue
                # pending_status, not _view: copying each record would cost 10 us a job
                status = r.status if r.status not in PENDING else pending_status(r.run_at, now)
                per_queue = jobs.setdefault(r.queue, {})
                per_queue[status] = per_queue.get(status, 0) + 1
                if status is JobStatus.QUEUED and r.run_at < oldest.get(r.queue, float("inf")):
                    oldest[r.queue] = r.run_at
            workers = sum(w.heartbeat_at >= alive_since for w in self._workers.values())
        return StoreStats(jobs, oldest, workers)

    def cancel(self, job_id: str, *, grace: float | None = None) -> bool:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None:
                return False
            if record.status in PENDING or record.status is JobStatus.WAITING:
                now = time.time()
                self._jobs[job_id] = replace(record, status=JobStatus.CANCELLED, finished_at=now)
                self._doom(job_id, JobStatus.CANCELLED, now)
                return True
            if record.status is JobStatus.RUNNING:
                forced = record.cancel_grace if grace is None else grace
                self._jobs[job_id] = replace(record, cancel_requested=True, cancel_grace=forced)
            return False

    def count_ahead(self, job_id: str, limit: int) -> int:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or record.status not in PENDING:
                return 0
            now, mine = time.time(), self._order(record)
            ahead = (
                r
                for r in self._jobs.values()
                if r.status in PENDING
                and r.queue == record.queue
                and r.run_at <= now
                and self._order(r) < mine
            )
            return sum(1 for _ in itertools.islice(ahead, max(0, limit)))

    def _order(self, record: JobRecord) -> tuple[int, float, int]:
        """Where `record` stands in claim order (the lock is held)."""
        return -record.priority, record.run_at, self._seq[record.id]

    def retry(self, job_id: str) -> bool:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                return False
            if self._waiting_for.get(job_id, 0) > 0:
                return False  # a dependency has not succeeded: retry that one
            now = time.time()
            failures = record.failures
            if failures:
                failures = (*failures[:-1], replace(failures[-1], retried_at=now))
            self._jobs[job_id] = replace(
                record,
                status=JobStatus.QUEUED,
                attempts=0,
                run_at=now,
                finished_at=None,
                cancel_requested=False,
                cancel_grace=None,
                failures=failures,
            )
            self._revive(job_id)
            self._changed.notify_all()
            return True

    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        check_statuses(statuses)
        with self._changed:
            doomed = [
                r.id
                for r in self._jobs.values()
                if r.status in statuses
                and (older_than is None or (r.finished_at or 0) < older_than)
                and not self._needed(r.id)
            ]
            for job_id in doomed:
                self._delete(job_id)
        return len(doomed)

    def _delete(self, job_id: str) -> None:
        """Forget a finished job and what goes with it (the lock is held)."""
        del self._jobs[job_id]
        del self._seq[job_id]
        self._logs.pop(job_id, None)
        self._dependents.pop(job_id, None)
        self._waiting_for.pop(job_id, None)

    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        with self._changed:
            for job_id, added in lines.items():
                if job_id not in self._jobs:
                    continue  # purged meanwhile: its log went with it
                log = self._logs.setdefault(job_id, [])
                log += [replace(line, seq=len(log) + i) for i, line in enumerate(added, 1)]

    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        with self._changed:
            log = self._logs.get(job_id, [])[max(after, 0) :]  # line n is at index n - 1
        return [line for line in log if attempt is None or line.attempt == attempt]

    def record_worker(self, info: WorkerInfo) -> None:
        with self._changed:
            self._workers[info.id] = info

    def remove_worker(self, worker_id: str) -> None:
        with self._changed:
            self._workers.pop(worker_id, None)

    def list_workers(self, alive_since: float) -> list[WorkerInfo]:
        with self._changed:
            for worker_id in [w.id for w in self._workers.values() if w.heartbeat_at < alive_since]:
                del self._workers[worker_id]
            return sorted(self._workers.values(), key=lambda w: w.started_at)

    def close(self) -> None:
        """Nothing to release: the jobs live as long as this object."""
