"""Job logs in the PostgreSQL store: the bb_logs table (postgres_0001_initial.sql), whose
rows go with their job (ON DELETE CASCADE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from psycopg.rows import tuple_row

from ..logs import LogLine

if TYPE_CHECKING:
    from .postgres_conn import Connection

# Lines are numbered on from their job's last: one appender per job at a time, which
# transaction-scoped advisory locks on the jobs' ids ensure (a lapsed attempt's worker may
# still be writing while the next attempt starts), taken in one order so two appenders
# never deadlock, and in a statement of their own: the INSERT's snapshot, taken when it
# starts, then sees every line committed before. FOR KEY SHARE keeps a job from being
# deleted before its lines are in, without blocking its updates. A job not stored (purged
# meanwhile) joins nothing: its lines are dropped.
_LOCK = """
SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
FROM (SELECT DISTINCT %(prefix)s || j AS k FROM unnest(%(jobs)s::text[]) AS j ORDER BY 1) AS keys
"""
_APPEND = """
WITH input AS (
    SELECT * FROM unnest(
        %(job)s::text[], %(attempt)s::integer[], %(at)s::float8[], %(stream)s::text[],
        %(level)s::text[], %(message)s::text[]
    ) WITH ORDINALITY AS r(job_id, attempt, at, stream, level, message, ord)
), stored AS (
    SELECT j.id, coalesce((SELECT max(l.seq) FROM {logs} l WHERE l.job_id = j.id), 0) AS last
    FROM {jobs} j WHERE j.id IN (SELECT job_id FROM input)
    FOR KEY SHARE OF j
)
INSERT INTO {logs} (job_id, seq, attempt, at, stream, level, message)
SELECT i.job_id, s.last + row_number() OVER (PARTITION BY i.job_id ORDER BY i.ord),
       i.attempt, i.at, i.stream, i.level, i.message
FROM input i JOIN stored s ON s.id = i.job_id
"""
_SELECT = (
    "SELECT seq, attempt, at, stream, level, message FROM {logs} WHERE job_id = %s AND seq > %s"
)


class PostgresLogs:
    """`append_logs` and `logs` of PostgresStore."""

    if TYPE_CHECKING:
        schema: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def _logs_sql(self, template: str) -> str:
        # parse_url allows [A-Za-z0-9_] only in a schema name
        return template.format(jobs=f'"{self.schema}".bb_jobs', logs=f'"{self.schema}".bb_logs')

    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        """See `Store.append_logs`: two statements for every job's lines, in one
        transaction."""
        batches = {job_id: added for job_id, added in lines.items() if added}
        if not batches:
            return
        flat = [(job_id, line) for job_id, added in batches.items() for line in added]
        columns = {
            "job": [job_id for job_id, _ in flat],
            **{
                name: [getattr(line, name) for _, line in flat]
                for name in ("attempt", "at", "stream", "level", "message")
            },
        }
        prefix = f"backburner.logs:{self.schema}:"
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(_LOCK, {"prefix": prefix, "jobs": list(batches)})
            cur.execute(self._logs_sql(_APPEND), columns)

    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        """See `Store.logs`."""
        if "\x00" in job_id:  # text cannot hold a NUL: no job has such an id
            return []
        sql, params = self._logs_sql(_SELECT), [job_id, after]
        if attempt is not None:
            sql += " AND attempt = %s"
            params.append(attempt)
        with self._conn() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql + " ORDER BY seq", params)
            found = cur.fetchall()
        return [
            LogLine(at, n, stream, level, text, seq) for seq, n, at, stream, level, text in found
        ]
