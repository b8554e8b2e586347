"""`current_job.run_id` differs on every run, even when `attempt` does not."""

from __future__ import annotations

from backburner import Backburner, current_job
from backburner.context import JobContext
from backburner.worker.runner import execute, run_claimed


def test_a_run_handed_back_uncounted_keeps_its_attempt_but_not_its_run_id(
    store_url: str,
) -> None:
    bb = Backburner(store_url)
    seen: list[tuple[int, str | None]] = []

    @bb.task(name="charge")
    def charge() -> None:
        seen.append((current_job.attempt, current_job.run_id))

    job = charge.delay()
    try:
        # it ran to the end, but the worker stopped before recording the result
        [first] = bb.store.claim(None, "w", 1, 30.0)
        ctx = JobContext(bb.store, first.id, first.token, first.attempts, first.task)
        assert execute(bb, first, ctx).succeeded
        assert bb.store.release(first.id, first.token)
        [second] = bb.store.claim(None, "w", 1, 30.0)
        assert run_claimed(bb, second).succeeded
        assert [attempt for attempt, _ in seen] == [1, 1]
        assert seen[0][1] != seen[1][1] and all(
            run_id is not None and run_id.startswith(f"{job.id}.") for _, run_id in seen
        )
        assert current_job.run_id is None  # outside a job
    finally:
        bb.close()
