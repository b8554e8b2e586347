"""The contenders' app modules, one small idiomatic app per library, and the job they share.

Every app registers one task, `record(key, seq, enqueued)`, whose body is `record_start`
below: the same cost for everyone (one RPUSH of "seq:started:enqueued" to a Redis list),
which lets the harness count lost and duplicated jobs and measure enqueue-to-start lag.

Each app module reads its settings from the environment, as a deployed app would:
    BENCH_STORE   the contender's store or broker (sqlite path, redis:// or postgresql:// URL)
    BENCH_REDIS   the Redis database the job writes its marks to
and offers `enqueue(key, seq, enqueued)` (one job per call, as a web request does), plus
optionally `open_producer()` (before the first enqueue), `prepare()` (create the schema)
and `probe()` (raise if the store cannot be used).
"""

from __future__ import annotations

import os
import time

import redis

_client: tuple[int, redis.Redis] | None = None


def _redis() -> redis.Redis:
    """One connection per process, opened after fork."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(os.environ["BENCH_REDIS"]))
    return _client[1]


def record_start(key: str, seq: int, enqueued: float) -> None:
    """The job: note when it started, for the harness to read back."""
    started = time.time()
    _redis().rpush(key, f"{seq}:{started:.6f}:{enqueued:.6f}")
