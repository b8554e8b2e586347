"""`stats()` of the SQL stores: the monitoring gauges in one statement (one snapshot).

The statement (SQLITE here; `stats` in sql/postgres_queries.sql) reads pending jobs only,
through the partial indexes on queued and running jobs that claims and rescues use: the
finished jobs, however many are kept, are never scanned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..job import JobStatus
from .base import StoreStats

# SUM and CASE rather than FILTER, which SQLite only reads from 3.30 on
SQLITE = """
SELECT 'queued', queue, SUM(run_at <= :now), SUM(run_at > :now),
       MIN(CASE WHEN run_at <= :now THEN run_at END)
FROM bb_jobs WHERE status = 'queued' GROUP BY queue
UNION ALL
SELECT 'running', queue, COUNT(*), 0, NULL FROM bb_jobs WHERE status = 'running' GROUP BY queue
UNION ALL
SELECT 'workers', '', COUNT(*), 0, NULL FROM bb_workers WHERE heartbeat_at >= :alive_since
"""


def gather(rows: Iterable[tuple[Any, ...]]) -> StoreStats:
    """StoreStats from the rows (kind, queue, a, b, c) of the statement: for 'queued',
    the due count, the scheduled count and the oldest due run_at; for 'running', the count;
    for 'workers', the count of workers alive."""
    jobs: dict[str, dict[JobStatus, int]] = {}
    oldest: dict[str, float] = {}
    workers = 0
    for kind, queue, a, b, first in rows:
        if kind == "workers":
            workers = int(a)
            continue
        per_queue = jobs.setdefault(queue, {})
        if kind == "running":
            per_queue[JobStatus.RUNNING] = int(a)
            continue
        for status, n in ((JobStatus.QUEUED, a), (JobStatus.SCHEDULED, b)):
            if n:
                per_queue[status] = int(n)
        if first is not None:
            oldest[queue] = float(first)
    return StoreStats(jobs, oldest, workers)
