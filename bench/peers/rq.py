"""RQ: one queue on the Redis of $BENCH_STORE; the worker class is chosen on the CLI."""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue

from bench.peers import record_start

queue = Queue(connection=Redis.from_url(os.environ["BENCH_STORE"]))


def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def enqueue(key: str, seq: int, enqueued: float) -> None:
    queue.enqueue(record, key, seq, enqueued)
