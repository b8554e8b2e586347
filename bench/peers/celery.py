"""Celery with the Redis broker of $BENCH_STORE; no result backend (the default)."""

from __future__ import annotations

import os

from celery import Celery

from bench.peers import record_start

app = Celery("bench", broker=os.environ["BENCH_STORE"])


@app.task
def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def enqueue(key: str, seq: int, enqueued: float) -> None:
    record.delay(key, seq, enqueued)
