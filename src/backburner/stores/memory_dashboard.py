"""The memory store's dashboard methods (a mixin): finding, counting and deleting jobs,
history points and the audit log."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..job import PENDING, JobRecord, JobStatus, pending_status
from .base import AuditEntry, HistoryPoint, JobFilter, JobPage
from .dashboard import after_seq, bucketed, check_step, cursor, exact_match, matches


class MemoryDashboard:
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of MemoryStore."""

    if TYPE_CHECKING:

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

        _changed: threading.Condition
        _jobs: dict[str, JobRecord]
        _seq: dict[str, int]
        scan_limit: int

        def _needed(self, job_id: str) -> bool: ...
        def _delete(self, job_id: str) -> None: ...

    _history: dict[tuple[float, str, str], int]
    _audit: list[AuditEntry]

    def _init_dashboard(self) -> None:
        self._history = {}
        self._audit = []

    def _newest_first(self, below: int | None) -> Iterator[tuple[int, JobRecord]]:
        """(enqueue number, job) of the jobs below `below` (all when None), newest first:
        the jobs dict holds them in enqueue order (the lock is held)."""
        for job_id in reversed(self._jobs):
            seq = self._seq[job_id]
            if below is None or seq < below:
                yield seq, self._jobs[job_id]

    def _light_get(self, job_id: str) -> JobRecord | None:
        return self.get(job_id, light=True)

    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        below = after_seq(after)
        now = time.time()
        with self._changed:
            if below is None and (exact := exact_match(self._light_get, filter, now)) is not None:
                return JobPage([exact], None)
            jobs: list[JobRecord] = []
            last = scanned = 0
            for seq, record in self._newest_first(below):
                if filter.status is not None and _status(record, now) is not filter.status:
                    continue  # as the other stores, which walk an index of the status
                if scanned == self.scan_limit:
                    if len(jobs) == limit:
                        return JobPage(jobs, cursor(self._seq[jobs[-1].id]))
                    return JobPage(jobs, cursor(last), scanned)
                scanned, last = scanned + 1, seq
                if matches(record, filter, now):
                    if len(jobs) == limit:  # one more match: there is a next page
                        return JobPage(jobs, cursor(self._seq[jobs[-1].id]))
                    jobs.append(_light(record, now))
        return JobPage(jobs, None)

    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        now = time.time()
        with self._changed:
            found = (r for r in self._jobs.values() if matches(r, filter, now))
            return sum(1 for _ in itertools.islice(found, max(0, cap)))

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        with self._changed:
            doomed = [
                job_id
                for job_id in dict.fromkeys(job_ids)
                if (r := self._jobs.get(job_id)) is not None
                and r.status.finished
                and not self._needed(job_id)
            ]
            for job_id in doomed:
                self._delete(job_id)
        return len(doomed)

    def add_history(self, counts: Mapping[tuple[float, str, str], int]) -> None:
        with self._changed:
            for key, n in counts.items():
                self._history[key] = self._history.get(key, 0) + n

    def history(self, since: float, *, step: int = 60) -> list[HistoryPoint]:
        step = check_step(step)
        with self._changed:
            points = [HistoryPoint(*k, n) for k, n in self._history.items() if k[0] >= since]
        return bucketed(points, step)

    def prune_history(self, before: float) -> int:
        with self._changed:
            old = [k for k in self._history if k[0] < before]
            for key in old:
                del self._history[key]
        return len(old)

    def record_audit(self, entry: AuditEntry) -> None:
        with self._changed:
            self._audit.append(replace(entry, seq=len(self._audit) + 1))

    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        with self._changed:
            end = len(self._audit) if before is None else max(0, min(before - 1, len(self._audit)))
            return self._audit[max(0, end - limit) : end][::-1]


def _status(record: JobRecord, now: float) -> JobStatus:
    """The job's status as stores report it (a pending job not due yet is SCHEDULED)."""
    return pending_status(record.run_at, now) if record.status in PENDING else record.status


def _light(record: JobRecord, now: float) -> JobRecord:
    """The record as `get(light=True)` gives it."""
    return replace(record, status=_status(record, now), payload="", failures=())
