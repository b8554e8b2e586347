"""The PostgreSQL store's purge (a mixin): finished jobs deleted in small batches, each
its own transaction, keeping those an unfinished dependent may still need."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..job import FINISHED, JobStatus
from .base import check_statuses
from .postgres_conn import fetch

if TYPE_CHECKING:
    from .postgres_conn import Connection

_PURGE_BATCH = 5000


class PostgresPurge:
    """`purge` of PostgresStore."""

    if TYPE_CHECKING:
        schema: str
        _jobs: str

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        check_statuses(statuses)
        if not statuses:
            return 0
        # literals, not parameters: the planner can then match the partial index
        listed = ", ".join(f"'{JobStatus(s).value}'" for s in statuses)
        cutoff = "" if older_than is None else "AND finished_at < %(older_than)s"
        deps = f'"{self.schema}".bb_deps'
        # a dependent that has not finished may need its result
        kept = (
            f"NOT EXISTS (SELECT 1 FROM {deps} AS e JOIN {self._jobs} AS j ON j.id = e.job_id "
            "WHERE e.dep_id = f.id AND j.status IN ('waiting', 'queued', 'running'))"
        )
        # Rows are locked first, skipping any an enqueue holds FOR SHARE for a new
        # dependent; the DELETE, a new statement, checks the dependents again with a view
        # that includes any enqueue committed meanwhile (one that only waited for a lock
        # would keep its older view under READ COMMITTED).
        lock = (
            f"SELECT seq FROM {self._jobs} AS f WHERE status IN ({listed}) {cutoff} "
            f"AND {kept} LIMIT {_PURGE_BATCH} FOR UPDATE SKIP LOCKED"
        )
        delete = (
            f"WITH gone AS (DELETE FROM {self._jobs} AS f WHERE seq = ANY(%(seqs)s) AND {kept} "
            f"RETURNING id), edges AS (DELETE FROM {deps} "
            "WHERE dep_id IN (SELECT id FROM gone) OR job_id IN (SELECT id FROM gone)) "
            "SELECT count(*) FROM gone"
        )
        params = {"older_than": older_than}
        total = 0
        # small batches, each its own transaction: short locks, and vacuum can keep up
        with self._conn() as conn:
            while True:
                with conn.transaction():
                    seqs = [row[0] for row in fetch(conn, lock, params)]
                    if seqs:
                        total += fetch(conn, delete, {"seqs": seqs})[0][0]
                if len(seqs) < _PURGE_BATCH:
                    return total
