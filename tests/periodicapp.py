"""Schedules the periodic worker tests run in real worker processes (test_periodic_workers.py).

$PERIODIC_GEN picks the generation of the code: "1" has a schedule ("removed") that
generation "2" no longer declares. The workers serve the queue "idle" only, so the jobs
stay queued for the test to count.
"""

from __future__ import annotations

import os

from backburner import Backburner

MISFIRE_EVERY = 0.5


def build(url: str | None = None, generation: str | None = None) -> Backburner:
    gen = generation or os.environ.get("PERIODIC_GEN", "1")
    bb = Backburner(url)

    @bb.periodic(every=1, name="tick")
    def tick() -> None:
        return None

    @bb.task(name="pair")
    def pair(which: str) -> str:
        return which

    bb.periodic(every=1, name="pair-a", args=("a",))(pair)
    bb.periodic(every=2, name="pair-b", args=("b",))(pair)

    @bb.task(name="noop")
    def noop() -> None:
        return None

    for policy in ("latest", "skip", "all"):
        bb.periodic(every=MISFIRE_EVERY, misfire=policy, name=f"m-{policy}")(noop)
    if gen == "1":
        bb.periodic(every=1, name="removed")(noop)
    return bb


bb = build()
