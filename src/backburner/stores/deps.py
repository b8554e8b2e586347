"""Dependencies between jobs: what a new job's status is given the jobs it depends on, and
the reason a job is cancelled for a dependency. Decided here once; every store applies it
atomically (see the Store docstrings of enqueue, complete, end_attempts, cancel, retry).

Each store keeps, per job, how many of its dependencies have not succeeded yet (its
"waiting count"), and an index from a job to its dependents. A success lowers the count
of each dependent by one, whatever the dependent's status, so the count is always true;
a WAITING job whose count reaches 0 is queued in the same transaction or script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ..job import JobRecord, JobStatus

#: The error of a job cancelled because a job it depends on failed or was cancelled; a
#: manual retry of that dependency brings back the jobs whose error starts with it.
DEPENDENCY_FAILED = "DependencyFailed"
_ENDED_BADLY = (JobStatus.FAILED, JobStatus.CANCELLED)


class Start(NamedTuple):
    """How a new job starts: its status (QUEUED, WAITING or CANCELLED), how many of its
    dependencies have not succeeded yet, and why it was cancelled at once (or None)."""

    status: JobStatus
    waiting_for: int
    error: str | None


def reason(dependency: str, status: JobStatus | str) -> str:
    """The error of a job cancelled because `dependency` ended `status` (FAILED or
    CANCELLED), saying what to do."""
    verb = "failed" if JobStatus(status) is JobStatus.FAILED else "was cancelled"
    return (
        f"{DEPENDENCY_FAILED}: dependency {dependency} {verb}; retry it "
        f"(backburner retry APP {dependency}) and this job waits for it again"
    )


def unknown(job_id: str, dependency: str) -> ValueError:
    """The error of a job depending on a job the store does not hold."""
    return ValueError(
        f"job {job_id} depends on job {dependency}, which does not exist (never enqueued, "
        "or purged); pass jobs or ids of stored jobs to depends_on; nothing was enqueued"
    )


def starts(
    records: Sequence[JobRecord], stored: Callable[[Sequence[str]], Mapping[str, JobStatus]]
) -> list[Start]:
    """The Start of each of `records`, enqueued together in this order. A dependency is an
    earlier record of the batch (never succeeded yet), or a stored job whose status
    `stored(ids)` gives (ids it leaves out do not exist: ValueError, nothing stored).

    Depending on a job that already succeeded counts for nothing; on one that failed or was
    cancelled, the new job is CANCELLED at once with the reason (a retry of that dependency
    brings it back, as for a job cancelled later)."""
    batch = {r.id: i for i, r in enumerate(records)}
    outside = sorted({d for r in records for d in r.depends_on if d not in batch})
    statuses = stored(outside) if outside else {}
    out: list[Start] = []
    for i, r in enumerate(records):
        waiting, error = 0, None
        for dep in dict.fromkeys(r.depends_on):  # one named twice counts once
            if batch.get(dep, i) < i:
                status = out[batch[dep]].status
            elif dep in statuses:
                status = statuses[dep]
            else:
                raise unknown(r.id, dep)
            if status is JobStatus.SUCCEEDED:
                continue
            waiting += 1
            if error is None and status in _ENDED_BADLY:
                error = reason(dep, status)
        if error is not None:
            out.append(Start(JobStatus.CANCELLED, waiting, error))
        else:
            out.append(Start(JobStatus.WAITING if waiting else JobStatus.QUEUED, waiting, None))
    return out
