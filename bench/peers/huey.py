"""Huey: SqliteHuey on a file, or RedisHuey, as $BENCH_STORE says; default settings."""

from __future__ import annotations

import os

from huey import RedisHuey, SqliteHuey

from bench.peers import record_start

_store = os.environ["BENCH_STORE"]
huey = (
    RedisHuey("bench", url=_store)
    if _store.startswith("redis")
    else SqliteHuey("bench", filename=_store)
)


@huey.task()
def record(key: str, seq: int, enqueued: float) -> None:
    record_start(key, seq, enqueued)


def enqueue(key: str, seq: int, enqueued: float) -> None:
    record(key, seq, enqueued)
