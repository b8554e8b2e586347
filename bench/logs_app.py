"""The job log benchmark's app: no-op jobs, jobs that print ten lines, and one that
prints its clock. $BENCH_LOG_LINES sets the capture cap (0: capture off)."""

from __future__ import annotations

import os
import time

from backburner import Backburner, defaults


def build(url: str | None = None) -> Backburner:
    lines = int(os.environ.get("BENCH_LOG_LINES", defaults.LOG_LINES))
    bb = Backburner(url, log_lines=lines)

    @bb.task(name="noop")
    def noop(n: int = 0) -> None:
        return None

    @bb.task(name="ten_lines")
    def ten_lines(n: int = 0) -> None:
        for i in range(10):
            print(f"job {n}: line {i}")

    @bb.task(name="clock")
    def clock(count: int, pause: float) -> None:
        for _ in range(count):
            print(repr(time.time()))
            time.sleep(pause)

    return bb


bb = build()
