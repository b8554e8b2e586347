"""The PostgreSQL store's periodic ticks (bb_ticks): `Store.enqueue_tick` and its reads.

A tick's row and its job are written in one transaction, under a transaction-scoped
advisory lock per schedule: schedulers racing for one schedule take turns, so the
(schedule, at) primary key and the check of the newest definition are both decided on
committed rows, and the loser writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from psycopg.rows import tuple_row

from ..job import JobRecord
from .base import Tick

if TYPE_CHECKING:
    from .postgres_conn import Connection

_COLUMNS = tuple(f.name for f in fields(Tick))
_SELECT = ", ".join(_COLUMNS)


def _lock_key(schema: str, schedule: str) -> int:
    digest = hashlib.sha256(f"backburner.tick:{schema}:{schedule}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresTicks:
    """`enqueue_tick`, `last_ticks` and `prune_ticks` of PostgresStore."""

    schema: str

    if TYPE_CHECKING:

        def _conn(self, timeout: float | None = None) -> AbstractContextManager[Connection]: ...

        def _insert(
            self, conn: Connection, records: Sequence[JobRecord], prepare: bool | None
        ) -> list[str]: ...

    @property
    def _ticks(self) -> str:
        return f'"{self.schema}".bb_ticks'  # parse_url allows [A-Za-z0-9_] only

    def _latest(self) -> str:
        return (
            f"SELECT {_SELECT} FROM {self._ticks} WHERE schedule = %(s)s "
            f"AND at = (SELECT max(at) FROM {self._ticks} WHERE schedule = %(s)s)"
        )

    def enqueue_tick(self, tick: Tick, record: JobRecord | None) -> bool:
        with self._conn() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema, tick.schedule),)
            )
            cur.execute(self._latest(), {"s": tick.schedule})
            found = cur.fetchone()
            if found is not None:
                last = Tick(*found)
                cur.execute(
                    f"SELECT 1 FROM {self._ticks} WHERE schedule = %s AND at = %s",
                    (tick.schedule, tick.at),
                )
                newer = last.definition != tick.definition and last.generation > tick.generation
                if cur.fetchone() is not None or newer:
                    return False
            job_id = tick.job_id
            if record is not None:
                [job_id] = self._insert(conn, [record], None)
                cur.execute(
                    f'UPDATE "{self.schema}".bb_jobs SET schedule = %s, scheduled_for = %s '
                    "WHERE id = %s",
                    (record.schedule, record.scheduled_for, record.id),
                )
            values: dict[str, Any] = {name: getattr(tick, name) for name in _COLUMNS}
            values["job_id"] = job_id
            cur.execute(
                f"INSERT INTO {self._ticks} ({_SELECT}) "
                f"VALUES ({', '.join(f'%({name})s' for name in _COLUMNS)})",
                values,
            )
            return True

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        if not schedules:
            return {}
        with self._conn() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                f"SELECT DISTINCT ON (schedule) {_SELECT} FROM {self._ticks} "
                "WHERE schedule = ANY(%s) ORDER BY schedule, at DESC",
                (list(schedules),),
            )
            return {tick.schedule: tick for tick in _ticks_of(cur.fetchall())}

    def prune_ticks(self, before: float) -> int:
        with self._conn() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(
                f"DELETE FROM {self._ticks} AS t WHERE at < %s AND at < "
                f"(SELECT max(l.at) FROM {self._ticks} AS l WHERE l.schedule = t.schedule)",
                (before,),
            )
            return cur.rowcount


def _ticks_of(found: Sequence[Sequence[Any]]) -> Iterator[Tick]:
    for row in found:
        yield Tick(*row)
