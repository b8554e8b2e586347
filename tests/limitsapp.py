"""Tasks the flow-control worker tests run in real worker processes (test_worker_limits.py).

Tasks with a concurrency limit count, from inside, the jobs of their key running at that
moment: each job adds a file to a folder for as long as it runs, then returns how many
files it saw. A task returns before its slot is freed, so the count never overstates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from backburner import Backburner, current_job

SLOTS = 3


def _inside(folder: str, hold: float) -> int:
    here = Path(folder)
    here.mkdir(parents=True, exist_ok=True)
    mine = here / str(current_job.id)
    mine.touch()
    try:
        seen = len(os.listdir(here))
        time.sleep(hold)
        return max(seen, len(os.listdir(here)))
    finally:
        mine.unlink()


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="slot", concurrency=SLOTS)
    def slot(folder: str, hold: float) -> int:
        return _inside(folder, hold)

    @bb.task(name="keyed", concurrency=1, concurrency_key=lambda folder, user, hold: user)
    def keyed(folder: str, user: str, hold: float) -> int:
        return _inside(os.path.join(folder, user), hold)

    @bb.task(name="rated", rate="20/s")
    def rated() -> float:
        return time.time()

    @bb.task(name="mutex", concurrency=1, retries=1)
    def mutex(marker: str, hang_first: bool) -> int:
        """Marks its start; with `hang_first` its first attempt hangs until killed."""
        Path(marker).write_text(f"{os.getpid()} {current_job.attempt}")
        if hang_first and current_job.attempt == 1:
            time.sleep(120)
        return current_job.attempt

    @bb.task(name="slow_mutex", concurrency=1, priority=5)
    def slow_mutex(seconds: float) -> None:
        time.sleep(seconds)

    @bb.task(name="free")
    def free() -> float:
        return time.time()

    return bb


bb = build()
