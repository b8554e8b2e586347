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
        ordered = sorted(leases.items())  # rows locked in id order, as complete_many does
        params = {
            "until": time.time() + lease_s,
            "ids": [job_id for job_id, _ in ordered],
            "tokens": [token for _, token in ordered],
        }
        with self._conn() as conn:
            renewed = fetch(conn, self._sql["heartbeat"], params)
        held = {job_id for job_id, _, _ in renewed}
        return HeartbeatReply(
            frozenset(leases.keys() - held),
            frozenset(job_id for job_id, c, _ in renewed if c),
            {job_id: grace for job_id, _, grace in renewed if grace is not None},
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
