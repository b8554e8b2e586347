"""Every store holds the values at the edges of what the API accepts (backburner.limits)."""

from __future__ import annotations

from backburner import limits
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
