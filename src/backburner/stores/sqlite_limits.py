"""The SQLite store's flow control: concurrency and rate limits checked in the claim's
transaction, paused queues, and what `explain` asks about them.

A claim statement skips every job whose key is already full (`ELIGIBLE`), judging each
job by the store as it was before the statement: two jobs of one key in one batch both
pass. `settle` then decides, in the claim's own transaction (SQLite runs one writer at a
time, so it sees every other claim), which claimed jobs stay claimed, in claim order,
which are handed back (queued again, as if never claimed), and which starts enter a rate
window. Jobs without limits never reach it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import rows

if TYPE_CHECKING:
    from .wakeup import Wakeup

Row = Mapping[str, Any]

#: Counts, for a key, the running jobs (concurrency) or the starts in the window (rate),
#: as the store holds them now, this claim's own jobs included.
Count = Callable[[str], int]


@dataclass
class Settled:
    """The verdict on a claimed batch: seqs to hand back, and starts to record as
    (rate key, when the start leaves its window, job id)."""

    undo: list[int] = field(default_factory=list)
    starts: list[tuple[str, float, str]] = field(default_factory=list)


def limited(row: Row) -> bool:
    """Whether a claimed row (keyed by column name) has a limit to check."""
    return row["concurrency"] is not None or row["rate_limit"] is not None


def settle(claimed: Sequence[Row], now: float, running: Count, window: Count) -> Settled:
    """Which of `claimed` (this claim's rows, by column name) exceed their limits.

    `running(key)` counts this claim's own jobs too (they are running in its transaction);
    `window(key)` counts the starts recorded before it (its own are not recorded yet).
    Earlier jobs in claim order keep their slots first.
    """
    verdict = Settled()
    ordered = sorted((r for r in claimed if limited(r)), key=rows.claim_order)
    held: dict[str, int] = {}  # concurrency key -> slots left for this claim's jobs
    own = _tally(r["concurrency_key"] for r in ordered if r["concurrency"] is not None)
    kept = []
    for r in ordered:
        key = r["concurrency_key"]
        if r["concurrency"] is not None:
            if key not in held:
                held[key] = r["concurrency"] - (running(key) - own[key])
            if held[key] <= 0:
                verdict.undo.append(r["seq"])
                continue
            held[key] -= 1
        kept.append(r)
    room: dict[str, int] = {}
    for r in kept:
        key = r["rate_key"]
        if r["rate_limit"] is None:
            continue
        if key not in room:
            room[key] = r["rate_limit"] - window(key)
        if room[key] <= 0:
            verdict.undo.append(r["seq"])
            continue
        room[key] -= 1
        verdict.starts.append((key, now + r["rate_period"], r["id"]))
    return verdict


def _tally(keys: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


#: The condition a queued job `j` must meet to be claimed beyond being due: its queue is
#: not paused and its keys have room. One parameter: now. SQLite stops at the first true
#: term of an OR, so a job without limits costs no subquery.
ELIGIBLE = (
    "AND j.queue NOT IN (SELECT queue FROM bb_paused) "
    "AND (j.concurrency IS NULL OR j.concurrency > (SELECT count(*) FROM bb_jobs h "
    "  WHERE h.status = 'running' AND h.concurrency_key = j.concurrency_key)) "
    "AND (j.rate_limit IS NULL OR j.rate_limit > (SELECT count(*) FROM bb_rate_starts s "
    "  WHERE s.key = j.rate_key AND s.until > ?))"
)
_UNDO = (
    "UPDATE bb_jobs SET status = 'queued', attempts = attempts - 1, worker_id = NULL, "
    "lease_until = NULL, started_at = NULL WHERE seq = ?"
)


def settle_claim(conn: sqlite3.Connection, named: list[dict[str, Any]], now: float) -> bool:
    """Hand back, in `conn`'s claim transaction, the claimed rows (`named`) a batch took
    past their limits, marking them with status None, and record the starts of the rest.
    Returns whether any was handed back."""
    if not any(limited(r) for r in named):
        return False

    def running(key: str) -> int:
        sql = "SELECT count(*) FROM bb_jobs WHERE status = 'running' AND concurrency_key = ?"
        return int(conn.execute(sql, (key,)).fetchone()[0])

    def window(key: str) -> int:
        conn.execute("DELETE FROM bb_rate_starts WHERE key = ? AND until <= ?", (key, now))
        sql = "SELECT count(*) FROM bb_rate_starts WHERE key = ?"
        return int(conn.execute(sql, (key,)).fetchone()[0])

    verdict = settle(named, now, running, window)
    conn.executemany(_UNDO, [(seq,) for seq in verdict.undo])
    conn.executemany("INSERT INTO bb_rate_starts VALUES (?, ?, ?)", verdict.starts)
    undone = set(verdict.undo)
    for r in named:
        if r["seq"] in undone:
            r["status"] = None
    return bool(undone)


def wait_plan(
    conn: sqlite3.Connection, where: str, params: Sequence[str], now: float
) -> tuple[bool, float | None]:
    """(whether a job of these queues can be claimed now, when one may next become so):
    the earliest future run_at of an unpaused queue, or rate window edge of a waiting job.
    A job waiting for a concurrency slot adds no time: an ending commit wakes waiters."""
    row = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM bb_jobs j WHERE status = 'queued' AND run_at <= ? "
        f"  {where} {ELIGIBLE}), "
        "(SELECT MIN(run_at) FROM bb_jobs j WHERE status = 'queued' AND run_at > ? "
        f"  {where} AND queue NOT IN (SELECT queue FROM bb_paused)), "
        "(SELECT MIN(until) FROM bb_rate_starts WHERE until > ? AND key IN "
        "  (SELECT rate_key FROM bb_jobs WHERE status = 'queued' AND rate_key IS NOT NULL))",
        (now, *params, now, now, *params, now),
    ).fetchone()
    edges = [t for t in row[1:] if t is not None]
    return bool(row[0]), min(edges) if edges else None


class SQLiteFlowControl:
    """SQLiteStore's paused queues and flow-control answers (a mixin)."""

    if TYPE_CHECKING:
        _wakeup: Wakeup

        def _conn(self) -> sqlite3.Connection: ...

        def _write(
            self, wake: bool = False, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def pause(self, queue: str) -> None:
        with self._write(durable=True) as conn:
            conn.execute("INSERT OR IGNORE INTO bb_paused VALUES (?, ?)", (queue, time.time()))

    def resume(self, queue: str) -> None:
        with self._write(wake=True, durable=True) as conn:
            conn.execute("DELETE FROM bb_paused WHERE queue = ?", (queue,))

    def paused_queues(self) -> set[str]:
        return {q for (q,) in self._conn().execute("SELECT queue FROM bb_paused")}

    def concurrency_holders(self, key: str) -> list[str]:
        found = self._conn().execute(
            "SELECT id FROM bb_jobs WHERE status = 'running' AND concurrency_key = ? "
            "ORDER BY started_at, seq",
            (key,),
        )
        return [job_id for (job_id,) in found]

    def rate_window_until(self, key: str, limit: int) -> float | None:
        found = (
            self._conn()
            .execute(
                "SELECT until FROM bb_rate_starts WHERE key = ? AND until > ? "
                "ORDER BY until DESC LIMIT 1 OFFSET ?",
                (key, time.time(), limit - 1),
            )
            .fetchone()
        )
        return None if found is None else float(found[0])
