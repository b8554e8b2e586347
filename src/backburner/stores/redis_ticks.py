"""The Redis store's periodic ticks: `Store.enqueue_tick` and its reads.

lua/tick.lua checks the (schedule, at) key and the newest definition, then stores the
job (enqueue.lua's own code) and the tick, in one script: atomic for every client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..job import JobRecord
from .base import Tick

if TYPE_CHECKING:
    from .redis_conn import RedisConnector


class RedisTicks:
    """`enqueue_tick`, `last_ticks` and `prune_ticks` of RedisStore."""

    _redis: RedisConnector

    if TYPE_CHECKING:

        @staticmethod
        def _enqueue_args(records: Sequence[JobRecord]) -> list[Any]: ...

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
            args += self._enqueue_args([record])
        return bool(self._redis.run("tick", *args))

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        if not schedules:
            return {}
        found = self._redis.run("last_ticks", *schedules)
        return {name: Tick(**json.loads(row)) for name, row in zip(schedules, found) if row}

    def prune_ticks(self, before: float) -> int:
        return int(self._redis.run("prune_ticks", repr(float(before))))
