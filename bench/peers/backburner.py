"""backburner on the store named by $BENCH_STORE (sqlite:///, redis://, postgresql://)."""

from __future__ import annotations

import os

from backburner import Backburner
from bench.peers import record_start

bb = Backburner(os.environ["BENCH_STORE"])


@bb.task(name="bench.record")
def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def enqueue(key: str, seq: int, enqueued: float) -> None:
    record.delay(key, seq, enqueued)


def probe() -> None:
    bb.store.counts()  # imports the backend and opens the store, or raises
