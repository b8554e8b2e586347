"""The memory store's periodic ticks (a mixin): `Store.enqueue_tick` and its reads."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..job import JobRecord
from .base import Tick


class MemoryTicks:
    """`enqueue_tick`, `last_ticks` and `prune_ticks` of MemoryStore."""

    if TYPE_CHECKING:
        _changed: threading.Condition
        _ticks: dict[str, dict[float, Tick]]

        def enqueue(self, records: Sequence[JobRecord]) -> list[str]: ...

    def enqueue_tick(self, tick: Tick, record: JobRecord | None) -> bool:
        with self._changed:
            ticks = self._ticks.setdefault(tick.schedule, {})
            if tick.at in ticks:
                return False
            if ticks:
                last = ticks[max(ticks)]
                if last.definition != tick.definition and last.generation > tick.generation:
                    return False
            if record is not None:
                [job_id] = self.enqueue([record])
                tick = replace(tick, job_id=job_id)
            ticks[tick.at] = tick
            return True

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        with self._changed:
            return {
                name: ticks[max(ticks)] for name in schedules if (ticks := self._ticks.get(name))
            }

    def prune_ticks(self, before: float) -> int:
        pruned = 0
        with self._changed:
            for ticks in self._ticks.values():
                if not ticks:
                    continue
                latest = max(ticks)
                for at in [at for at in ticks if at < before and at != latest]:
                    del ticks[at]
                    pruned += 1
        return pruned
