"""The Redis store's periodic ticks: `Store.enqueue_tick` and its reads.

lua/tick.lua checks the (schedule, at) key and the newest definition, then stores the
job (enqueue.lua's own code) and the tick, in one script: atomic for every client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..job import JobRecord
from .base import Tick

if TYPE_CHECKING:
    from .redis_conn import RedisConnector


def enqueue_args(now: float, r: JobRecord) -> list[Any]:
    """enqueue.lua's arguments for one record (see lua/enqueue.lua)."""
    return [
        repr(now),
        r.id,
        r.task,
        r.queue,
        r.payload,
        r.priority,
        repr(float(r.run_at)),
        repr(float(r.created_at)),
        r.max_attempts,
        repr(float(r.retry_backoff)),
        "" if r.timeout is None else repr(float(r.timeout)),
        "0" if r.unique_key is None else "1",
        r.unique_key or "",
    ]


class RedisTicks:
    """`enqueue_tick`, `last_ticks` and `prune_ticks` of RedisStore."""

    _redis: RedisConnector

    def enqueue_tick(self, tick: Tick, record: JobRecord | None) -> bool:
        fields = asdict(tick)
        del fields["job_id"]
        # the script appends the job id: the tick's floats keep every digit this way
        head = json.dumps(fields)[:-1] + ', "job_id": '
        args: list[Any] = [
            tick.schedule,
            repr(float(tick.at)),
            head,
            tick.definition,
            repr(float(tick.generation)),
            tick.job_id or "",
            "0" if record is None else "1",
        ]
        if record is not None:
            args += enqueue_args(time.time(), record)
        return bool(self._redis.run("tick", *args))

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        if not schedules:
            return {}
        found = self._redis.run("last_ticks", *schedules)
        return {name: Tick(**json.loads(row)) for name, row in zip(schedules, found) if row}

    def prune_ticks(self, before: float) -> int:
        return int(self._redis.run("prune_ticks", repr(float(before))))
