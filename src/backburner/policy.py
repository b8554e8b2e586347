"""What happens to an attempt that ends without success: the one place that decides it.

Workers, `drain()`, eager mode and the stores' lease rescue all ask this module; stores
only apply the `Ending` it returns, atomically and fenced by the attempt's token. So a
change of retry policy (say, a lapsed lease waiting one backoff step) is one edit here.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Protocol

from .codec import storable_text
from .job import JobStatus

MAX_BACKOFF = 3600.0  # seconds: the longest any backoff step waits
LEASE_LAPSED = "LeaseExpired: the worker running this attempt stopped heartbeating"
FORCED_CANCEL = "ForcedCancel"  # how the error of an attempt cancelled by force starts
UNKNOWN_TASK = "UnknownTask"  # how the note on a job handed back for its unknown task starts
# A worker that does not know a job's task hands it back due this much later, so it does not
# claim the job again at once, over and over, while a worker that knows the task may take it.
UNKNOWN_TASK_WAIT = 5.0


class Attempts(Protocol):
    """How many attempts a job has had and may have, and its backoff base."""

    @property
    def attempts(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def retry_backoff(self) -> float: ...


class Attempt(Attempts, Protocol):
    """A running attempt: its job and fencing token too (a JobRecord has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def token(self) -> int: ...


@dataclass(frozen=True)
class Ending:
    """How one running attempt ends, as a store is to record it.

    A store applies it only while `token` still holds the job (and, with `lapsed_before`,
    only while its lease lapsed before that time), all at once:
    - the job becomes `status`, or `if_cancelled` when cancel was requested by then
      (read inside the store's own atomic step, so a cancel is never lost to a race);
    - QUEUED: due again at `run_at` (None: keeps its run_at); FAILED or CANCELLED: its
      `finished_at` is `at`;
    - with `error`, the failure (attempt number, `at`, `error`) is appended to its history
      and becomes `job.error`; with `error` and not `in_history`, it only becomes
      `job.error` (why a job that did not run is still waiting), and the history is left;
    - unless `counted`, the attempt is given back (attempts goes down by one) and leaves
      no trace: the job's started_at, worker_id and progress are cleared, so a handed-back
      job reads as one that never started.
    """

    job_id: str
    token: int
    status: JobStatus
    if_cancelled: JobStatus
    at: float
    run_at: float | None = None
    error: str | None = None
    counted: bool = True
    lapsed_before: float | None = None
    in_history: bool = True

    def __post_init__(self) -> None:
        # Every ending passes here, whoever built it: an error no store can keep (a lone
        # surrogate, a NUL) would make recording fail, and the attempt's outcome be lost.
        if self.error is not None:
            object.__setattr__(self, "error", storable_text(self.error))


def backoff_delay(attempt: int, base: float, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): uniform in
    [0, min(cap, base * 2**(attempt-1))], so retrying workers spread out. The exponent is
    capped before it is computed, so no attempt count overflows."""
    steps = min(max(0, attempt - 1), 64)  # 2**64 times any base is past any cap
    return random.uniform(0.0, min(cap, base * 2.0**steps))


def retry_at(
    attempt: Attempts, *, delay: float | None = None, backoff: bool = True, now: float | None = None
) -> float | None:
    """When to run `attempt`'s job again after it failed, or None when it is out of
    attempts. `delay` (from `Retry`) replaces the backoff; without `backoff` the retry is
    due at once (`drain()` and eager mode)."""
    if attempt.attempts >= attempt.max_attempts:
        return None
    if not backoff:
        delay = 0.0
    elif delay is None:
        delay = backoff_delay(attempt.attempts, attempt.retry_backoff)
    return (time.time() if now is None else now) + delay


def failed(job_id: str, token: int, error: str, run_again_at: float | None) -> Ending:
    """The attempt failed with `error`: pending again at `run_again_at`, or FAILED for
    good when None. A job whose cancel was requested is CANCELLED instead, never retried."""
    return Ending(
        job_id,
        token,
        JobStatus.FAILED if run_again_at is None else JobStatus.QUEUED,
        if_cancelled=JobStatus.CANCELLED,
        at=time.time(),
        run_at=run_again_at,
        error=error,
    )


def after_error(
    attempt: Attempt,
    error: str,
    *,
    delay: float | None = None,
    backoff: bool = True,
    retryable: bool = True,
) -> Ending:
    """The attempt raised (or timed out, or its process died): retried with backoff while
    attempts remain, else failed. An error no retry can mend (`retryable=False`: the
    payload cannot be decoded, the result cannot be stored) fails the job at once."""
    again = retry_at(attempt, delay=delay, backoff=backoff) if retryable else None
    return failed(attempt.id, attempt.token, error, again)


def after_lapse(attempt: Attempt, now: float) -> Ending:
    """The attempt's lease lapsed before `now` (its worker vanished): the attempt counts,
    and the job is retried at once while attempts remain, else failed."""
    again = retry_at(attempt, delay=0.0, now=now)
    return replace(
        failed(attempt.id, attempt.token, LEASE_LAPSED, again), at=now, lapsed_before=now
    )


def handed_back(job_id: str, token: int) -> Ending:
    """The attempt never ran, or was stopped by a graceful shutdown: back to its queue
    without counting it, or CANCELLED if cancel was requested meanwhile."""
    return Ending(
        job_id,
        token,
        JobStatus.QUEUED,
        if_cancelled=JobStatus.CANCELLED,
        at=time.time(),
        counted=False,
    )


def handed_back_cancelled(job_id: str, token: int, why: str) -> Ending:
    """A running job cancelled by force that its worker hands back instead of ending it
    (`why`: its process was killed to stop another job, or ended before recording it):
    CANCELLED, the attempt given back as by `handed_back`, and the reason kept as
    `job.error` (no failure in its history: it did not fail)."""
    return replace(
        handed_back(job_id, token),
        status=JobStatus.CANCELLED,
        error=f"{FORCED_CANCEL}: cancelled by force; its worker handed it back: {why}",
        in_history=False,
    )


def unknown_task(job_id: str, token: int, task: str, worker: str | None) -> Ending:
    """The worker that claimed the job does not know its task (a rolling deploy, a second app
    on the same store): nothing ran, so the job goes back to its queue uncounted, due again
    UNKNOWN_TASK_WAIT seconds later, for a worker that knows the task. `job.error` says why
    it has not run yet, naming the `worker` that handed it back; the job's failure history
    is left alone, since nothing failed."""
    by = f" (the last was {worker})" if worker else ""
    return replace(
        handed_back(job_id, token),
        run_at=time.time() + UNKNOWN_TASK_WAIT,
        error=(
            f"{UNKNOWN_TASK}: not run: no worker that picked it up knows task {task!r}{by}; "
            "it waits in its queue for a worker whose app registers that task (deploy the "
            "code that defines it, or make the worker import its module)"
        ),
        in_history=False,
    )


def cancelled_by_force(job_id: str, token: int, grace: float) -> Ending:
    """The job was cancelled by force and had not returned `grace` seconds after its worker
    told it, so the worker stopped the process running it: the job is CANCELLED, never
    retried; the attempt counts (it ran), and the reason is recorded as its error."""
    return Ending(
        job_id,
        token,
        JobStatus.CANCELLED,
        if_cancelled=JobStatus.CANCELLED,
        at=time.time(),
        error=(
            f"{FORCED_CANCEL}: cancelled by force after {grace:g} s grace: the job had not "
            "returned when the grace ended, so its worker process was killed"
        ),
    )
