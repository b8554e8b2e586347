"""`stats()` of the SQL stores: the monitoring gauges in one statement (one snapshot).

The statement (SQLITE here; `stats` in sql/postgres_queries.sql) reads pending jobs only,
through the partial indexes on queued and running jobs that claims and rescues use: the
finished jobs, however many are kept, are never scanned. SQLite counts every queued job
(about 20 ms per 100,000, in the process that scrapes); PostgreSQL counts up to
EXACT_UP_TO per queue and asks the planner's statistics beyond (`estimate_above_cap`), as
Oban does, so a scrape costs about the same with a million jobs waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..job import JobStatus
from .base import StoreStats

EXACT_UP_TO = 10_000  # jobs counted one by one per queue (PostgreSQL); estimated beyond

# Each expression evaluated per row costs about as much as reading the row: the least
# is asked (all pending, the scheduled ones, the earliest run_at), the rest derived.
# SUM rather than FILTER, which SQLite only reads from 3.30 on.
SQLITE = """
SELECT 'queued', queue, COUNT(*), SUM(run_at > :now), MIN(run_at)
FROM bb_jobs WHERE status = 'queued' GROUP BY queue
UNION ALL
SELECT 'running', queue, COUNT(*), 0, NULL FROM bb_jobs WHERE status = 'running' GROUP BY queue
UNION ALL
SELECT 'waiting', queue, COUNT(*), 0, NULL FROM bb_jobs WHERE status = 'waiting' GROUP BY queue
UNION ALL
SELECT 'workers', '', COUNT(*), 0, NULL FROM bb_workers WHERE heartbeat_at >= :alive_since
"""


def estimate_above_cap(
    rows: Iterable[tuple[Any, ...]], estimate: Callable[[str, str], float]
) -> list[tuple[Any, ...]]:
    """The rows of the `stats` statement, with each count that reached EXACT_UP_TO
    replaced by `estimate(kind, queue)` ("queued" or "scheduled"), never below the cap."""
    out = []
    for kind, queue, queued, later, first in rows:
        if kind == "queued":
            if queued >= EXACT_UP_TO:
                queued = max(EXACT_UP_TO, round(estimate("queued", queue)))
            if later >= EXACT_UP_TO:
                later = min(queued, max(EXACT_UP_TO, round(estimate("scheduled", queue))))
        out.append((kind, queue, queued, later, first))
    return out


def gather(rows: Iterable[tuple[Any, ...]], now: float) -> StoreStats:
    """StoreStats at `now` from the rows (kind, queue, a, b, c) of the statement: for
    'queued', the count of queued jobs, of those scheduled later, and their earliest
    run_at (the oldest due job's, unless it is later than `now`: then none is due); for
    'running' and 'waiting', the count; for 'workers', the count of workers alive."""
    jobs: dict[str, dict[JobStatus, int]] = {}
    oldest: dict[str, float] = {}
    workers = 0
    for kind, queue, a, b, first in rows:
        if kind == "workers":
            workers = int(a)
            continue
        per_queue = jobs.setdefault(queue, {})
        if kind in ("running", "waiting"):
            per_queue[JobStatus(kind)] = int(a)
            continue
        for status, n in ((JobStatus.QUEUED, a - b), (JobStatus.SCHEDULED, b)):
            if n:
                per_queue[status] = int(n)
        if first is not None and first <= now:
            oldest[queue] = float(first)
    return StoreStats(jobs, oldest, workers)
