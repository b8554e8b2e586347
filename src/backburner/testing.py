"""Helpers for testing your own tasks without a worker.

    bb = Backburner("memory://")
    job = send_email.delay("a@example.com")
    drain(bb)                      # runs every due job here, retries included
    assert job.refresh().status == "succeeded"

or run (and store) each job at `delay()` with `Backburner(..., eager=True)` / `with eager(bb):`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .app import Backburner
from .worker.runner import run_claimed

__all__ = ["drain", "eager"]


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
