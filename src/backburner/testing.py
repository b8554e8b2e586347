"""Helpers for testing your own tasks without a worker.

    bb = Backburner("memory://")
    job = send_email.delay("a@example.com")
    drain(bb)                      # runs every due job here, retries included
    assert job.refresh().status == "succeeded"

or run jobs inline at `delay()` with `Backburner(..., eager=True)` / `with eager(bb):`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .app import Backburner
from .worker.runner import run_claimed

__all__ = ["drain", "eager"]


@contextmanager
def eager(bb: Backburner, enabled: bool = True) -> Iterator[Backburner]:
    """Within the block, `delay()` runs each job inline with the same codec checks.

    Eager jobs are not stored: the Job returned carries the outcome."""
    previous = bb.eager
    bb.eager = enabled
    try:
        yield bb
    finally:
        bb.eager = previous


def drain(bb: Backburner, queues: Sequence[str] | None = None, *, max_jobs: int = 100_000) -> int:
    """Run every due job of `bb` in this process until none is due; returns how many ran.

    Retries skip their backoff, so a failing job runs all its attempts here. Jobs
    scheduled for later stay scheduled.
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
