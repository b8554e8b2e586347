"""SQL rows to JobRecords and WorkerInfos, read by column name: what the SQL stores share.

Both SQL stores select `JOB_SELECT` (the JobRecord field names, so a field added to the
dataclass is a column read here, then seq) and hand the rows to `job_records` or
`claimed_records`, which key each row by column name before anything reads it: no code
reads a column by its position. What differs between the stores is passed in as a hook:
`decode_json` reads a JSON column (TEXT in SQLite, so `json.loads`; PostgreSQL's jsonb
arrives decoded). Integer-or-boolean `cancel_requested` and the SCHEDULED-or-QUEUED
status of a pending job are settled here, once for both; so is how an `Ending` (decided
by `backburner.policy`) becomes the parameters of their end-attempt statements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from ..job import Failure, JobRecord, JobStatus, pending_status
from ..policy import Ending
from .base import WorkerInfo

#: Reads a stored JSON value: `json.loads` for TEXT, the identity for jsonb.
DecodeJson = Callable[[Any], Any]

JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRecord))
WORKER_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(WorkerInfo))
_JOB_READ = (*JOB_COLUMNS, "seq")
#: The select list of every statement that reads jobs: the record's columns, then seq
#: (enqueue order, which sorts claimed rows).
JOB_SELECT = ", ".join(_JOB_READ)
#: The same columns with payload and failures left unread (empty), for `get(light=True)`:
#: a status view never shows them and they may be large.
JOB_SELECT_LIGHT = ", ".join(
    {"payload": "'' AS payload", "failures": "NULL AS failures"}.get(c, c) for c in _JOB_READ
)
WORKER_SELECT = ", ".join(WORKER_COLUMNS)
_WORKER_LISTS = ("queues", "jobs", "tasks")  # WorkerInfo fields stored as JSON lists

_QUEUED = JobStatus.QUEUED.value
_NONE: tuple[Any, ...] = (None, "[]", [])  # no dependencies, as stored (or left unread)


def _record(values: dict[str, Any], now: float, decode_json: DecodeJson) -> JobRecord:
    """The JobRecord of a row keyed by column name, read at `now`; `values` is a fresh
    dict, made over into the record's fields. The stores keep every pending job as
    'queued': one whose run_at is still ahead of `now` is reported SCHEDULED."""
    del values["seq"]
    status = values["status"]
    values["status"] = (
        pending_status(values["run_at"], now) if status == _QUEUED else JobStatus(status)
    )
    failures = values["failures"]
    # most jobs never failed: an empty history skips the JSON decoding
    values["failures"] = (
        tuple(Failure.from_json(f) for f in decode_json(failures))
        if failures and failures != "[]"
        else ()
    )
    if values["progress"] is not None:
        values["progress"] = decode_json(values["progress"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    depends_on = values["depends_on"]
    values["depends_on"] = tuple(decode_json(depends_on)) if depends_on not in _NONE else ()
    values["takes_results"] = bool(values["takes_results"])
    return JobRecord.stored(values)


def _job_row(values: Sequence[Any]) -> dict[str, Any]:
    """A row selected as `JOB_SELECT`, keyed by column name.

    The names are the dataclass's own, interned, strings, which `JobRecord(**row)` matches
    by identity. Names read from each result's description instead cost more than the
    rest of a claim's Python (measured): the work of listing them, and a string
    comparison per keyword tried, as a driver's copies are equal but not identical.
    """
    return dict(zip(_JOB_READ, values))


def named_rows(found: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows selected as `JOB_SELECT`, keyed by column name (for `records_of`)."""
    return [_job_row(row) for row in found]


def records_of(
    named: Iterable[dict[str, Any]], now: float, decode_json: DecodeJson
) -> list[JobRecord]:
    """The records of `named_rows`, in claim order (they are made over, used up)."""
    return [_record(row, now, decode_json) for row in sorted(named, key=claim_order)]


def job_records(
    found: Iterable[Sequence[Any]], now: float, decode_json: DecodeJson
) -> list[JobRecord]:
    """The records of rows selected as `JOB_SELECT`, read at `now`, in the order given."""
    return [_record(_job_row(row), now, decode_json) for row in found]


def claimed_records(
    found: Iterable[Sequence[Any]], now: float, decode_json: DecodeJson
) -> list[JobRecord]:
    """The records of claimed rows (selected as `JOB_SELECT`) in claim order, which
    RETURNING does not keep: highest priority first, then earliest run_at, then enqueue
    order (seq), as the Store protocol promises."""
    named = [_job_row(row) for row in found]
    named.sort(key=claim_order)
    return [_record(row, now, decode_json) for row in named]


def claim_order(row: Mapping[str, Any]) -> tuple[int, float, int]:
    """The claim order of a row keyed by column name: priority, run_at, seq."""
    return -row["priority"], row["run_at"], row["seq"]


def worker_info(row: Mapping[str, Any], decode_json: DecodeJson) -> WorkerInfo:
    """The WorkerInfo of a bb_workers row (queues, jobs and tasks are stored as JSON lists)."""
    values = {name: row[name] for name in WORKER_COLUMNS}
    for name in _WORKER_LISTS:
        values[name] = tuple(decode_json(values[name]))
    return WorkerInfo(**values)


def worker_values(info: WorkerInfo, encode_json: Callable[[Any], Any]) -> dict[str, Any]:
    """A bb_workers row for `info` by column name; queues, jobs and tasks go through
    `encode_json` (`json.dumps` for TEXT, psycopg's `Jsonb` for jsonb)."""
    values = {name: getattr(info, name) for name in WORKER_COLUMNS}
    for name in _WORKER_LISTS:
        values[name] = encode_json(list(values[name]))
    return values


def ending_params(ending: Ending) -> dict[str, Any]:
    """What a SQL store's end-attempt statement needs of `ending`, by parameter name.

    `failure` is the failure entry as JSON text without its attempt number (the statement
    adds the attempt being ended): built here, so `at` keeps every digit of its float; None
    when the ending adds none (no error, or an error kept out of the history).
    `given_back` is 1 when the attempt does not count.
    """
    return {
        "id": ending.job_id,
        "token": ending.token,
        "status": ending.status.value,
        "if_cancelled": ending.if_cancelled.value,
        "at": ending.at,
        "run_at": ending.run_at,
        "error": ending.error,
        "failure": (
            json.dumps({"at": ending.at, "error": ending.error})
            if ending.error is not None and ending.in_history
            else None
        ),
        "given_back": 0 if ending.counted else 1,
        "lapsed_before": ending.lapsed_before,
    }
