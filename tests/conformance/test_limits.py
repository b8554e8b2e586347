"""Every store holds the values at the edges of what the API accepts (backburner.limits)."""

from __future__ import annotations

import math
from dataclasses import replace

from backburner import limits, policy
from backburner.job import JobStatus
from backburner.stores import Store

from .records import make


def test_a_job_at_every_limit_is_stored_and_read_back_as_given(store: Store) -> None:
    low = make(
        "t" * limits.MAX_NAME_BYTES,
        queue="é" * (limits.MAX_NAME_BYTES // 2),
        priority=limits.MIN_PRIORITY,
        unique_key="k" * limits.MAX_UNIQUE_KEY_BYTES,
        max_attempts=limits.MAX_RETRIES + 1,
    )
    high = make(priority=limits.MAX_PRIORITY)
    store.enqueue([low, high])
    for record in (low, high):
        got = store.get(record.id)
        assert got is not None
        assert (got.task, got.queue, got.priority, got.unique_key, got.max_attempts) == (
            record.task,
            record.queue,
            record.priority,
            record.unique_key,
            record.max_attempts,
        )
    [first] = store.claim(None, "w", 1, 30.0)
    assert first.id == high.id


def test_a_failure_at_a_huge_attempt_count_backs_off_at_most_the_cap(store: Store) -> None:
    store.enqueue([make(max_attempts=limits.MAX_RETRIES + 1, retry_backoff=1e300)])
    [claimed] = store.claim(None, "w", 1, 30.0)
    # as if it had failed billions of times: 2.0 ** attempts would overflow a float
    worn = replace(claimed, attempts=limits.MAX_RETRIES)
    ending = policy.after_error(worn, "boom")
    assert ending.run_at is not None and math.isfinite(ending.run_at)
    assert ending.run_at <= ending.at + policy.MAX_BACKOFF + 1
    assert store.end_attempts([ending]) == [JobStatus.QUEUED]
    got = store.get(claimed.id)
    assert got is not None and got.status in (JobStatus.QUEUED, JobStatus.SCHEDULED)
    assert got.run_at == ending.run_at
