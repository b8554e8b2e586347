"""Helpers for testing your own tasks without a worker.

    bb = Backburner("memory://")
    job = send_email.delay("a@example.com")
    drain(bb)                      # runs every due job here, retries included
    assert job.refresh().status == "succeeded"

or run (and store) each job at `delay()` with `Backburner(..., eager=True)` / `with eager(bb):`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .app import Backburner
from .job import Job
from .worker.runner import run_claimed
from .worker.scheduler import Scheduler

__all__ = ["FakeClock", "drain", "eager", "run_schedules"]


@contextmanager
def eager(
    bb: Backburner, enabled: bool = True, *, raise_errors: bool = False
) -> Iterator[Backburner]:
    """Within the block, `delay()` stores each job and runs it at once in this thread, as
    a worker would (same codec checks, app context, signals, progress and result), retries
    included, without their backoff; it returns the job as it ended. Only that job runs:
    other jobs in the store stay where they are, and a job scheduled for later
    (`schedule(delay=...)`) stays scheduled (run it with `drain()` once due).

    This block overrides a Flask app's TESTING and BACKBURNER_EAGER. With `raise_errors`,
    a job that ends failed re-raises its task's exception at `delay()` (the job is stored
    as failed first). `enabled=False` turns eager mode off within the block."""
    previous = bb._eager_override
    bb._eager_override = (enabled, raise_errors)
    try:
        yield bb
    finally:
        bb._eager_override = previous


def drain(bb: Backburner, queues: Sequence[str] | None = None, *, max_jobs: int = 100_000) -> int:
    """Run every due job of `bb` in this process until none is due; returns how many ran.

    Retries skip their backoff, so a failing job runs all its attempts here. Jobs
    scheduled for later stay scheduled; so do jobs of a paused queue, and jobs over a
    rate limit (they are due again once their window has room).
    """
    ran = 0
    while ran < max_jobs:
        claimed = bb.store.claim(queues, "drain", 1, bb.settings.lease)
        if not claimed:
            return ran
        run_claimed(bb, claimed[0], backoff=False)
        ran += 1
    raise RuntimeError(
        f"drain() ran {max_jobs} jobs and jobs are still due: a task that enqueues itself forever?"
    )


class FakeClock:
    """A clock that moves only when told, for driving `bb.periodic` schedules in tests:

        clock = FakeClock(datetime(2026, 3, 28, tzinfo=timezone.utc))
        jobs = run_schedules(bb, clock, until=clock.now + timedelta(days=2))
        clock.advance(hours=5)             # no worker ran for five hours...
        run_schedules(bb, clock, until=clock.now)   # ...and the misfire policy applies

    `start` is an aware datetime or Unix seconds.
    """

    def __init__(self, start: dt.datetime | float) -> None:
        self._now = _timestamp(start, "start")

    def time(self) -> float:
        """The current time, Unix seconds (what the scheduler reads)."""
        return self._now

    @property
    def now(self) -> dt.datetime:
        """The current time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self._now, dt.timezone.utc)

    def set(self, when: dt.datetime | float) -> None:
        """Move to `when` (an aware datetime or Unix seconds), forward or back."""
        self._now = _timestamp(when, "when")

    def advance(self, seconds: float = 0.0, **timedelta_args: float) -> None:
        """Move forward by `seconds` plus a `timedelta(**timedelta_args)` (hours=5, ...)."""
        self._now += seconds + dt.timedelta(**timedelta_args).total_seconds()


def run_schedules(bb: Backburner, clock: FakeClock, until: dt.datetime | float) -> list[Job]:
    """Be the scheduler of an always-on worker from `clock`'s time to `until`: store the
    due ticks now (ticks missed since the last stored one follow their misfire policy),
    then move the clock to each next tick and store it, as a worker would. Returns the
    jobs made, oldest tick first; the clock ends at `until`. Jobs are only stored: run
    them with `drain(bb)` (they are due at their tick, so a clock set in the future
    leaves them scheduled)."""
    end = _timestamp(until, "until")
    scheduler = Scheduler(bb, clock=clock)
    jobs: list[Job] = []
    while True:
        look = scheduler.run_due()
        jobs += [Job(bb, record) for record in look.jobs]
        if look.next_at > end:
            clock.set(max(end, clock.time()))
            return jobs
        clock.set(look.next_at)


def _timestamp(when: dt.datetime | float, what: str) -> float:
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise ValueError(f"{what}: pass an aware datetime or Unix seconds, not a naive one")
        return when.timestamp()
    return float(when)
