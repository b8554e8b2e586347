"""Forced cancel in the supervisor: when a job cancelled by force must have stopped.

The supervisor learns of a forced cancel from its heartbeat (every lease/3 seconds), with
the grace the canceller gave, and relays it to the child as it does any cancel, so the task
sees `current_job.cancel_requested`. The grace counts from then (from the job's start, if
it started later). When it ends with the job still running, the supervisor kills the child
with SIGKILL, as it does a child whose job overran its timeout: the one signal a child
stuck in C code, or with signals masked, cannot delay; SIGTERM would only make the child
stop claiming while the stuck job went on. The job then ends as `policy.cancelled_by_force`
decides; the child's other jobs go back to their queue uncounted, and a new child starts.

The supervisor, not the child, keeps these deadlines: a child whose job holds the GIL, or
never returns to Python, could keep none.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .supervisor import Child, Held

log = logging.getLogger("backburner.worker")


def learn(children: Iterable[Child], forced: Mapping[str, float], now: float) -> None:
    """Note the forced cancels a heartbeat reported (job id -> grace) on the jobs the
    children hold; `now` is time.monotonic(). The first report starts the grace; a later
    one with another grace (cancelled by force again) changes its length."""
    for child in children:
        for job_id in forced.keys() & child.jobs.keys():
            held = child.jobs[job_id]
            held.cancel_grace = forced[job_id]
            if held.forced_at is None:
                held.forced_at = now


def deadline(held: Held) -> float | None:
    """When a job cancelled by force must have returned (time.monotonic()); None for a job
    not cancelled by force, not started (a job never started goes back uncounted), or
    ended."""
    if held.cancel_grace is None or held.forced_at is None or held.started is None:
        return None
    if held.ended:
        return None
    return max(held.forced_at, held.started) + held.cancel_grace


def overdue(child: Child, now: float) -> str | None:
    """A job of `child` cancelled by force whose grace ended before `now`, if any."""
    for job_id, held in child.jobs.items():
        due = deadline(held)
        if due is not None and now > due:
            return job_id
    return None


def next_deadline(children: Iterable[Child]) -> float:
    """The earliest grace end of any job the children hold (math.inf: none)."""
    ends = [d for c in children for h in c.jobs.values() if (d := deadline(h)) is not None]
    return min(ends, default=math.inf)


def enforce(child: Child, read: Callable[[Child], None], now: float) -> str | None:
    """Kill `child` if a job it runs outlived its forced cancel's grace before `now`, after
    reading its reports (`read`: the job may have returned in time, unread); returns that
    job's id, or None when nothing was killed."""
    if overdue(child, now) is None:
        return None
    read(child)
    job_id = overdue(child, now)
    if job_id is not None:
        log.warning(
            "job %s cancelled by force still runs %gs after it was told: killing child %d",
            *(job_id, child.jobs[job_id].cancel_grace, child.index),
        )
        child.process.kill()
    return job_id
