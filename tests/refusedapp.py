"""A task whose success the store refuses to record: it moves its own job's fencing token
on, as another worker taking the lease over would (test_metrics.py; SQLite only).

The worker imports this module as `refusedapp` with $BACKBURNER_URL naming the test's
store; the test builds its own handle on the same store with `build(url)`.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

from backburner import Backburner, current_job


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="taken_over", retries=0)
    def taken_over() -> str:
        path = os.environ["BACKBURNER_URL"].removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE bb_jobs SET token = token + 1 WHERE id = ?", (current_job.id,))
        return "ok"

    @bb.task(name="quick")
    def quick() -> str:
        return "ok"

    return bb


bb = build()
