"""`backburner periodic APP`: each schedule, its next run and its last tick."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .app import Backburner


def schedule_rows(bb: Backburner, now: float | None = None) -> list[dict[str, Any]]:
    """What `backburner periodic` shows of each schedule, as JSON-ready data: name, task,
    expression, tz, misfire, next_run (Unix seconds), and the latest stored tick: its time
    (last_tick), whether it made a job (last_enqueued; False for a misfire) and the job's
    id and status (last_job_id, last_job_status; None where there is none)."""
    now = time.time() if now is None else now
    schedules = sorted(bb.schedules.values(), key=lambda s: s.name)
    last = bb.store.last_ticks([s.name for s in schedules])
    found = []
    for s in schedules:
        tick = last.get(s.name)
        job = None if tick is None or tick.job_id is None else bb.store.get(tick.job_id, light=True)
        found.append(
            {
                "name": s.name,
                "task": s.task.name,
                "expression": s.expression,
                "tz": s.tz,
                "misfire": s.misfire,
                "next_run": s.after(now),
                "last_tick": None if tick is None else tick.at,
                "last_enqueued": None if tick is None else tick.enqueued,
                "last_job_id": None if tick is None else tick.job_id,
                "last_job_status": None if job is None else job.status.value,
            }
        )
    return found


HEADERS = ("schedule", "task", "expression", "tz", "next run", "last tick", "job")


def text_rows(found: list[dict[str, Any]]) -> list[list[str]]:
    """`schedule_rows` as the cells of the table `backburner periodic` prints (HEADERS)."""
    return [
        [
            s["name"],
            s["task"],
            s["expression"],
            s["tz"],
            _utc(s["next_run"]),
            _utc(s["last_tick"]),
            _last_job(s),
        ]
        for s in found
    ]


def _utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _last_job(s: dict[str, Any]) -> str:
    if s["last_job_id"] is None:
        return "-" if s["last_tick"] is None else "skipped"
    status = s["last_job_status"] or "purged"
    return f"{s['last_job_id']} {status}" + ("" if s["last_enqueued"] else " (tick skipped)")
