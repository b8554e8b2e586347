"""The SQLite store's periodic ticks (bb_ticks): `Store.enqueue_tick` and its reads.

A tick's row and its job are written in one `BEGIN IMMEDIATE` transaction, which
SQLite runs one at a time: the (schedule, at) primary key then decides which scheduler
stores a tick, and the loser's transaction writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import TYPE_CHECKING

from ..job import JobRecord
from .base import Tick

_COLUMNS = tuple(f.name for f in fields(Tick))
_SELECT = ", ".join(_COLUMNS)
_LATEST = (
    f"SELECT {_SELECT} FROM bb_ticks WHERE schedule = ? "
    "AND at = (SELECT max(at) FROM bb_ticks WHERE schedule = ?)"
)
_PRUNE = (
    "DELETE FROM bb_ticks WHERE at < ? "
    "AND at < (SELECT max(t.at) FROM bb_ticks AS t WHERE t.schedule = bb_ticks.schedule)"
)


def tick_of(row: Sequence[object]) -> Tick:
    """The Tick of a row selected as `_SELECT` (SQLite keeps `enqueued` as 0 or 1)."""
    values = dict(zip(_COLUMNS, row))
    values["enqueued"] = bool(values["enqueued"])
    return Tick(**values)  # type: ignore[arg-type]


class SQLiteTicks:
    """`enqueue_tick`, `last_ticks` and `prune_ticks` of SQLiteStore."""

    if TYPE_CHECKING:

        def _write(
            self, wake: bool = False, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

        def _conn(self) -> sqlite3.Connection: ...

        @staticmethod
        def _insert(conn: sqlite3.Connection, records: Sequence[JobRecord]) -> list[str]: ...

    def enqueue_tick(self, tick: Tick, record: JobRecord | None) -> bool:
        with self._write(wake=record is not None, durable=True) as conn:
            found = conn.execute(_LATEST, (tick.schedule, tick.schedule)).fetchone()
            if found is not None:
                last = tick_of(found)
                taken = conn.execute(
                    "SELECT 1 FROM bb_ticks WHERE schedule = ? AND at = ?",
                    (tick.schedule, tick.at),
                ).fetchone()
                newer = last.definition != tick.definition and last.generation > tick.generation
                if taken is not None or newer:
                    return False
            job_id = tick.job_id
            if record is not None:
                [job_id] = self._insert(conn, [record])
                conn.execute(
                    "UPDATE bb_jobs SET schedule = ?, scheduled_for = ? WHERE id = ?",
                    (record.schedule, record.scheduled_for, record.id),
                )
            conn.execute(
                f"INSERT INTO bb_ticks ({_SELECT}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (
                    tick.schedule,
                    tick.at,
                    tick.definition,
                    tick.generation,
                    job_id,
                    int(tick.enqueued),
                    tick.missed,
                    tick.recorded_at,
                ),
            )
            return True

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, Tick]:
        conn = self._conn()
        found = {}
        for name in schedules:
            row = conn.execute(_LATEST, (name, name)).fetchone()
            if row is not None:
                found[name] = tick_of(row)
        return found

    def prune_ticks(self, before: float) -> int:
        with self._write() as conn:
            return conn.execute(_PRUNE, (before,)).rowcount
