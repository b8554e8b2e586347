"""The periodic benchmark's app: one schedule ticking every $BENCH_EVERY seconds (1)."""

from __future__ import annotations

import os

from backburner import Backburner

bb = Backburner()


@bb.periodic(every=float(os.environ.get("BENCH_EVERY", "1")), name="bench")
def bench() -> None:
    return None
