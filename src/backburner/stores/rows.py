"""SQL rows to JobRecords and WorkerInfos, read by column name: what the SQL stores share.

Both SQL stores select `JOB_COLUMNS` (the JobRecord field names, so a field added to the
dataclass is a column added here) and build records with `job_record` from rows keyed by
column name, never by position. What differs between them is passed in as a hook:
`decode_json` reads a JSON column (TEXT in SQLite, so `json.loads`; PostgreSQL's jsonb
arrives decoded). Integer-or-boolean `cancel_requested` and the SCHEDULED-or-QUEUED
status of a pending job are settled here, once for both; so is how an `Ending` (decided
by `backburner.policy`) becomes the parameters of their end-attempt statements.
"""

from __future__ import annotations

import json
import sys
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
#: The select list of every statement that reads jobs (bb_jobs has these columns and seq).
JOB_SELECT = ", ".join(JOB_COLUMNS)
WORKER_SELECT = ", ".join(WORKER_COLUMNS)

_QUEUED = JobStatus.QUEUED.value


def by_name(names: Iterable[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Makes rows of a result whose columns are `names` into dicts keyed by column name.

    The names are interned: `JobRecord(**values)` then matches its keywords by identity,
    where names fresh from a driver would cost a string comparison per parameter tried
    (twice the cost of building a record from a claimed row, measured).
    """
    keys = [sys.intern(name) for name in names]
    return lambda values: dict(zip(keys, values))


def job_record(row: Mapping[str, Any], now: float, decode_json: DecodeJson) -> JobRecord:
    """The JobRecord of a bb_jobs row (`JOB_COLUMNS`, and `seq` if read to sort claims)
    read at `now`. The stores keep every pending job as 'queued'; one whose run_at is
    still ahead of `now` is reported SCHEDULED."""
    values = dict(row)
    values.pop("seq", None)
    status = values["status"]
    values["status"] = (
        pending_status(values["run_at"], now) if status == _QUEUED else JobStatus(status)
    )
    failures = values["failures"]
    # most jobs never failed: an empty history skips the JSON decoding (a claim's hot path)
    values["failures"] = (
        tuple(Failure.from_json(f) for f in decode_json(failures))
        if failures and failures != "[]"
        else ()
    )
    if values["progress"] is not None:
        values["progress"] = decode_json(values["progress"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return JobRecord(**values)


def worker_info(row: Mapping[str, Any], decode_json: DecodeJson) -> WorkerInfo:
    """The WorkerInfo of a bb_workers row (queues and jobs are stored as JSON lists)."""
    values = {name: row[name] for name in WORKER_COLUMNS}
    values["queues"] = tuple(decode_json(values["queues"]))
    values["jobs"] = tuple(decode_json(values["jobs"]))
    return WorkerInfo(**values)


def worker_values(info: WorkerInfo, encode_json: Callable[[Any], Any]) -> dict[str, Any]:
    """A bb_workers row for `info` by column name; queues and jobs go through `encode_json`
    (`json.dumps` for TEXT, psycopg's `Jsonb` for jsonb)."""
    values = {name: getattr(info, name) for name in WORKER_COLUMNS}
    values["queues"] = encode_json(list(info.queues))
    values["jobs"] = encode_json(list(info.jobs))
    return values


def claim_order(row: Mapping[str, Any]) -> tuple[int, float, int]:
    """Sort key of claimed rows (RETURNING gives no order): highest priority first, then
    earliest run_at, then enqueue order (seq), as the Store protocol promises."""
    return -row["priority"], row["run_at"], row["seq"]


def ending_params(ending: Ending) -> dict[str, Any]:
    """What a SQL store's end-attempt statement needs of `ending`, by parameter name.

    `failure` is the failure entry as JSON text without its attempt number (the statement
    adds the attempt being ended): built here, so `at` keeps every digit of its float.
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
            None if ending.error is None else json.dumps({"at": ending.at, "error": ending.error})
        ),
        "given_back": 0 if ending.counted else 1,
        "lapsed_before": ending.lapsed_before,
    }
