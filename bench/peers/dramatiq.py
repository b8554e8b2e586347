"""Dramatiq with the Redis broker of $BENCH_STORE and its default middleware."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.peers import record_start

broker = RedisBroker(url=os.environ["BENCH_STORE"])
dramatiq.set_broker(broker)


@dramatiq.actor
def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def enqueue(key: str, seq: int, enqueued: float) -> None:
    record.send(key, seq, enqueued)
