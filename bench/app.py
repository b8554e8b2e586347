"""The benchmark app: one no-op task and one that reports when it started."""

from __future__ import annotations

import time

from backburner import Backburner


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="noop")
    def noop(n: int = 0) -> None:
        return None

    @bb.task(name="started")
    def started(enqueued: float) -> float:
        return time.time() - enqueued

    return bb


bb = build()
