"""One schedule that may not overlap its own job. Its worker serves the queue "idle" only,
so the first tick's job stays queued and every later tick is a misfire (test_metrics.py)."""

from __future__ import annotations

from backburner import Backburner

bb = Backburner()


@bb.periodic(every=0.5, overlap=False, name="no-overlap")
def no_overlap() -> None:
    return None
