"""The memory store's dependencies (a mixin): dependents queued when a dependency
succeeds, cancelled when it fails or is cancelled, waiting again when it is retried."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..job import ACTIVE, JobRecord, JobStatus
from . import deps


class MemoryDependencies:
    """MemoryStore's links between jobs and what a dependency's end does to its
    dependents (the lock is held by the caller unless said otherwise)."""

    if TYPE_CHECKING:
        _changed: threading.Condition
        _jobs: dict[str, JobRecord]
        _dependents: dict[str, list[str]]
        _waiting_for: dict[str, int]

    def _statuses(self, ids: Sequence[str]) -> dict[str, JobStatus]:
        return {i: self._jobs[i].status for i in ids if i in self._jobs}

    def _release(self, job_id: str) -> None:
        """`job_id` succeeded: one dependency fewer for each dependent; a WAITING one
        with none left is queued (the lock is held)."""
        for dependent in self._dependents.get(job_id, ()):
            left = self._waiting_for.get(dependent, 1) - 1
            self._waiting_for[dependent] = left
            record = self._jobs.get(dependent)
            if record is not None and record.status is JobStatus.WAITING and left <= 0:
                self._jobs[dependent] = replace(record, status=JobStatus.QUEUED)

    def _doom(self, job_id: str, status: JobStatus, now: float) -> None:
        """`job_id` ended `status` (FAILED or CANCELLED): cancel its WAITING dependents,
        theirs in turn, and so on, each naming the dependency it lost."""
        frontier = [(job_id, status)]
        while frontier:
            after: list[tuple[str, JobStatus]] = []
            for cause, how in frontier:
                for dependent in self._dependents.get(cause, ()):
                    record = self._jobs.get(dependent)
                    if record is not None and record.status is JobStatus.WAITING:
                        self._jobs[dependent] = replace(
                            record,
                            status=JobStatus.CANCELLED,
                            finished_at=now,
                            error=deps.reason(cause, how),
                        )
                        after.append((dependent, JobStatus.CANCELLED))
            frontier = after

    def _revive(self, job_id: str) -> None:
        """`job_id` was retried by hand: the jobs cancelled for a dependency below it wait
        again, unless another of their dependencies failed or was cancelled."""
        frontier = [job_id]
        while frontier:
            after: list[str] = []
            for cause in frontier:
                for dependent in self._dependents.get(cause, ()):
                    record = self._jobs.get(dependent)
                    if record is None or not _cancelled_for_dependency(record):
                        continue
                    lost = self._statuses(record.depends_on).values()
                    if any(s in (JobStatus.FAILED, JobStatus.CANCELLED) for s in lost):
                        continue
                    if record.unique_key is not None and self._live_key(record.unique_key):
                        continue  # another live job took its unique_key: it stays cancelled
                    self._jobs[dependent] = replace(
                        record, status=JobStatus.WAITING, finished_at=None, error=None
                    )
                    after.append(dependent)
            frontier = after

    def _live_key(self, unique_key: str) -> bool:
        """Whether a live job (waiting, pending or running) holds `unique_key`."""
        return any(r.unique_key == unique_key and r.status in ACTIVE for r in self._jobs.values())

    def dependent_ids(self, job_id: str) -> list[str]:
        with self._changed:
            return list(self._dependents.get(job_id, ()))

    def _needed(self, job_id: str) -> bool:
        """Whether a dependent of `job_id` has not finished (it may need its result)."""
        dependents = (self._jobs.get(d) for d in self._dependents.get(job_id, ()))
        return any(d is not None and not d.status.finished for d in dependents)


def _cancelled_for_dependency(record: JobRecord) -> bool:
    return record.status is JobStatus.CANCELLED and (record.error or "").startswith(
        deps.DEPENDENCY_FAILED
    )
