"""The floor of the harness on Redis: no library, no acknowledgement.

The producer LPUSHes each job's arguments to one list; each worker process BRPOPs them
one by one and runs the job. Nothing records that a job started or ended, so a worker
that dies loses what it popped: no library offers that. What any library that keeps
such records does per job costs more, and its drain can only beat this by doing one
round trip for several jobs.

    python -m bench.peers.floor      # one worker process (the harness starts two)
"""

from __future__ import annotations

import json
import os

import redis

from bench.peers import record_start

_QUEUE = "floor:jobs"
_producer: redis.Redis | None = None


def _client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["BENCH_STORE"])


def open_producer() -> None:
    global _producer
    _producer = _client()


def enqueue(key: str, seq: int, enqueued: float) -> None:
    assert _producer is not None, "open_producer() first"
    _producer.lpush(_QUEUE, json.dumps([key, seq, enqueued]))


def work() -> None:
    """Pop and run jobs until killed."""
    client = _client()
    while True:
        _, message = client.brpop([_QUEUE])  # type: ignore[misc]
        record_start(*json.loads(message))


if __name__ == "__main__":
    work()
