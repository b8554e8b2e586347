"""The memory store's flow control (a mixin): concurrency and rate limits checked at
claim time, paused queues, and what `explain` asks about them."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..job import JobRecord, JobStatus


class MemoryFlowControl:
    """MemoryStore's limits, pause, resume and flow-control answers."""

    if TYPE_CHECKING:
        _changed: threading.Condition
        _jobs: dict[str, JobRecord]
        _paused: set[str]
        _starts: dict[str, list[float]]

    def _running_per_key(self) -> dict[str, int]:
        running: dict[str, int] = {}
        for r in self._jobs.values():
            if r.status is JobStatus.RUNNING and r.concurrency_key is not None:
                running[r.concurrency_key] = running.get(r.concurrency_key, 0) + 1
        return running

    def _window(self, key: str, now: float) -> list[float]:
        """The starts of rate key `key` still in their window (older ones forgotten)."""
        window = [until for until in self._starts.get(key, ()) if until > now]
        if window:
            self._starts[key] = window
        else:
            self._starts.pop(key, None)
        return window

    def _admit(self, record: JobRecord, running: dict[str, int], now: float) -> bool:
        """Whether `record` is within its limits; if so, count its start (the lock is
        held, and the caller starts it)."""
        key = record.concurrency_key
        if (
            record.concurrency is not None
            and key is not None
            and running.get(key, 0) >= record.concurrency
        ):
            return False
        if record.rate_limit is not None and record.rate_key is not None:
            if len(self._window(record.rate_key, now)) >= record.rate_limit:
                return False
            period = record.rate_period or 0.0
            self._starts.setdefault(record.rate_key, []).append(now + period)
        if record.concurrency is not None and key is not None:
            running[key] = running.get(key, 0) + 1
        return True

    def _blocked_until(
        self, record: JobRecord, running: dict[str, int], now: float
    ) -> float | None:
        """None if due `record` may start now; else when it may (inf: once a slot frees)."""
        if not record.limited:
            return None
        key = record.concurrency_key
        if (
            record.concurrency is not None
            and key is not None
            and running.get(key, 0) >= record.concurrency
        ):
            return float("inf")
        if record.rate_limit is not None and record.rate_key is not None:
            window = self._window(record.rate_key, now)
            if len(window) >= record.rate_limit:
                return sorted(window)[len(window) - record.rate_limit]
        return None

    def pause(self, queue: str) -> None:
        with self._changed:
            self._paused.add(queue)

    def resume(self, queue: str) -> None:
        with self._changed:
            self._paused.discard(queue)
            self._changed.notify_all()

    def paused_queues(self) -> set[str]:
        with self._changed:
            return set(self._paused)

    def concurrency_holders(self, key: str) -> list[str]:
        with self._changed:
            return [
                r.id
                for r in self._jobs.values()
                if r.status is JobStatus.RUNNING and r.concurrency_key == key
            ]

    def rate_window_until(self, key: str, limit: int) -> float | None:
        with self._changed:
            window = sorted(self._window(key, time.time()))
        return window[len(window) - limit] if len(window) >= limit else None
