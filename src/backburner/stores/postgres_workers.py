"""The PostgreSQL store's workers (a mixin): lease renewal by heartbeat, and the bb_workers
rows `backburner status` lists."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import rows
from .base import HeartbeatReply, WorkerInfo
from .postgres_conn import decoded, fetch, rowcount

if TYPE_CHECKING:
    from .postgres_conn import Connection


class PostgresWorkers:
    """`heartbeat`, `record_worker`, `remove_worker` and `list_workers` of PostgresStore."""

    if TYPE_CHECKING:
        _sql: dict[str, str]

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease_s: float
    ) -> HeartbeatReply:
        if not leases:
            return HeartbeatReply()
        params = {
            "until": time.time() + lease_s,
            "ids": list(leases.keys()),
            "tokens": list(leases.values()),
        }
        # Renews what it can lock without waiting; a lease whose row is locked by a
        # completion under way is still held (see heartbeat in postgres_queries.sql).
        with self._conn() as conn:
            held = fetch(conn, self._sql["heartbeat"], params)
        return HeartbeatReply(
            frozenset(leases.keys() - {job_id for job_id, _, _ in held}),
            frozenset(job_id for job_id, c, _ in held if c),
            {job_id: grace for job_id, _, grace in held if grace is not None},
        )

    def record_worker(self, info: WorkerInfo) -> None:
        with self._conn() as conn:
            rowcount(conn, self._sql["record_worker"], rows.worker_values(info, Jsonb))

    def remove_worker(self, worker_id: str) -> None:
        with self._conn() as conn:
            rowcount(conn, self._sql["remove_worker"], {"id": worker_id})

    def list_workers(self, alive_since: float) -> list[WorkerInfo]:
        with self._conn() as conn:
            rowcount(conn, self._sql["forget_workers"], {"since": alive_since})
            with conn.cursor(row_factory=dict_row) as cur:  # by column name
                found = cur.execute(self._sql["list_workers"]).fetchall()
        return [rows.worker_info(row, decoded) for row in found]
