"""What the SQLite store reads for `backburner.explain` beyond its Store basics."""

from __future__ import annotations

import sqlite3

# Due jobs of the job's queue that come first in claim order (priority DESC, run_at, seq),
# counted up to a limit: the claim index (queue, priority DESC, run_at, seq) is walked
# from its head, so the count costs at most `limit` rows however long the queue.
_AHEAD = """
SELECT count(*) FROM (
    SELECT 1 FROM bb_jobs AS o,
        (SELECT queue, priority, run_at, seq FROM bb_jobs
         WHERE id = :id AND status = 'queued') AS j
    WHERE o.status = 'queued' AND o.queue = j.queue AND o.run_at <= :now
        AND (o.priority > j.priority
             OR (o.priority = j.priority
                 AND (o.run_at < j.run_at OR (o.run_at = j.run_at AND o.seq < j.seq))))
    LIMIT :limit
)
"""


def count_ahead(conn: sqlite3.Connection, job_id: str, now: float, limit: int) -> int:
    """`Store.count_ahead` on `conn`, read at `now`."""
    row = conn.execute(_AHEAD, {"id": job_id, "now": now, "limit": max(0, limit)}).fetchone()
    return int(row[0])
