"""A store filled quickly with N jobs as a busy app leaves them, for the dashboard bench.

Jobs go in through `store.enqueue` in large batches (PostgreSQL's plain batches take its
COPY path), oldest first, created over the last three days. Their outcomes are then
written straight into the store, as the worker would have left them, keeping what the
store's indexes rely on: SQL UPDATEs by range of `seq` on SQLite and PostgreSQL (partial
indexes follow the status by themselves), and on Redis a pipeline per chunk that moves
each job between its `idx:<status>:<queue>` sets, out of its ready set, into `finished` or
`leases` (the layout in stores/redis.py and lua/common.lua).

The mix for N jobs: the newest min(100,000, N/10) are due and queued (20 of them running,
held by two workers), N/100 are scheduled over the next day, N/5,000 wait for a scheduled
job; the rest finished: 3% failed (four attempts, each with a traceback), 1% cancelled,
the others succeeded. Six tasks on four queues; each job's arguments carry an email
address, an order number and a note, so text searches find one job ("INV-0123456",
in the queued backlog), about one in a thousand ("ACME-417"), or none.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from backburner import Backburner
from backburner.job import JobRecord, new_id
from backburner.logs import LogLine
from backburner.stores.base import AuditEntry, Tick, WorkerInfo

from .dashboard_app import EXPOSED, TASKS

DAY = 86400.0
BATCH = {"sqlite": 50_000, "postgres": 50_000, "redis": 5_000}  # Redis: short scripts
ERROR = (
    "ConnectionError: smtp.example.com:587 refused the connection\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/app/backburner/worker/run.py", line 112, in execute\n'
    "    result = task.fn(*args, **kwargs)\n"
    '  File "/srv/app/shop/mail.py", line 41, in send_invoice\n'
    "    smtp = smtplib.SMTP(settings.SMTP_HOST, 587, timeout=10)\n"
    '  File "/usr/lib/python3.11/smtplib.py", line 255, in __init__\n'
    "    (code, msg) = self.connect(host, port)\n"
    "ConnectionError: smtp.example.com:587 refused the connection"
)
CANCELLED = "cancelled by hand (backburner cancel)"
ATTEMPTS = 4


@dataclass(frozen=True)
class Mix:
    """How many jobs of each kind N jobs hold, in enqueue order: finished, scheduled,
    waiting, then queued (the first `running` of which run)."""

    finished: int
    scheduled: int
    waiting: int
    queued: int
    running: int

    @classmethod
    def of(cls, n: int) -> Mix:
        queued, scheduled, waiting = min(100_000, n // 10), n // 100, n // 5000
        return cls(n - queued - scheduled - waiting, scheduled, waiting, queued, min(20, queued))


@dataclass(frozen=True)
class Seeded:
    """What the timings look up: a job of each kind and texts to search for."""

    jobs: int
    failed_id: str  # a failed job with a long log
    running_id: str
    scheduled_id: str
    rare_text: str  # in one job's arguments
    common_text: str  # in about one job in a thousand
    seconds: float


def task_of(i: int) -> tuple[str, str]:
    """The (task, queue) of the i-th job: scattered, so no task sits in one stretch."""
    return TASKS[(i * 7919) % 997 % len(TASKS)]


def record(i: int, created: float, run_at: float) -> JobRecord:
    task, queue = task_of(i)
    args = [f"customer{i % 50_000}@example.com"]
    kwargs = {"order": i, "note": f"invoice INV-{i:07d} for ACME-{i % 1000}"}
    payload = json.dumps([args, kwargs], separators=(",", ":"))
    return JobRecord(
        id=new_id(),
        task=task,
        queue=queue,
        payload=payload,
        run_at=run_at,
        created_at=created,
        max_attempts=ATTEMPTS,
    )


def records(mix: Mix, now: float) -> Iterator[JobRecord]:
    """Every job, oldest first: finished ones over three days up to an hour ago, the
    scheduled and waiting ones made in the last hour, then the queued backlog."""
    step = 3 * DAY / max(1, mix.finished)
    for i in range(mix.finished):
        created = now - 3 * DAY - 3600 + i * step
        yield record(i, created, created)
    i = mix.finished
    for k in range(mix.scheduled):
        created = now - 3600 + k * 3600 / mix.scheduled
        yield record(i + k, created, now + 600 + k * DAY / mix.scheduled)
    i += mix.scheduled + mix.waiting  # waiting jobs come from `waiting_records`
    for k in range(mix.queued):
        created = now - 3600 + k * 3600 / mix.queued
        yield record(i + k, created, created)


def batches(items: Iterator[JobRecord], size: int) -> Iterator[list[JobRecord]]:
    batch: list[JobRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(bb: Backburner, kind: str, n: int) -> Seeded:
    """Fill the empty store of `bb` (of `kind`: sqlite, postgres, redis) with `n` jobs."""
    began = time.perf_counter()
    now = time.time()
    mix = Mix.of(n)
    store = bb.store
    jobs = records(mix, now)
    finished: list[Row] = []  # (id, queue, run_at) of the first mix.finished jobs
    for batch in batches((next(jobs) for _ in range(mix.finished)), BATCH[kind]):
        store.enqueue(batch)
        finished += [(r.id, r.queue, r.run_at) for r in batch]
    scheduled: list[str] = []
    for batch in batches((next(jobs) for _ in range(mix.scheduled)), BATCH[kind]):
        scheduled += store.enqueue(batch)
    i = mix.finished + mix.scheduled
    waiting = [
        replace(record(i + k, now - 60, now - 60), depends_on=(dep,))
        for k, dep in enumerate(scheduled[: mix.waiting])
    ]
    if waiting:
        store.enqueue(waiting)
    running: list[Row] = []
    for batch in batches(jobs, BATCH[kind]):
        store.enqueue(batch)
        running += [(r.id, r.queue, r.run_at) for r in batch[: mix.running - len(running)]]
    first_running = mix.finished + mix.scheduled + mix.waiting + 1  # its seq
    if kind == "redis":
        finish_redis(bb, finished, running, first_running, now)
    else:
        finish_sql(bb, kind, finished[-1][0], [r[0] for r in running], now)
    failed_id = next(f[0] for p, f in enumerate(finished[-1000:], len(finished) - 999) if failed(p))
    extras(bb, now, failed_id, [f[0] for f in finished[-500:]], [r[0] for r in running])
    return Seeded(
        jobs=n,
        failed_id=failed_id,
        running_id=running[0][0],
        scheduled_id=scheduled[-1],
        rare_text=f"INV-{rare(mix):07d}",
        common_text="ACME-417",
        seconds=time.perf_counter() - began,
    )


Row = tuple[str, str, float]  # a job's id, queue and run_at


def rare(mix: Mix) -> int:
    """The number of a job halfway down the queued backlog whose arguments the dashboard
    shows: its order number is a search that finds one job within the newest 100,000."""
    k = mix.finished + mix.scheduled + mix.waiting + mix.queued // 2
    return next(i for i in range(k, k + 100) if task_of(i)[0] in EXPOSED)


def failed(seq: int) -> bool:
    """Whether the finished job of this enqueue sequence failed (3 in 100)."""
    return seq % 100 < 3


def cancelled(seq: int) -> bool:
    """Whether the finished job of this enqueue sequence was cancelled (1 in 100)."""
    return seq % 100 == 3


# The same outcomes as `failed` and `cancelled`, for SQL: started half a second after
# being enqueued, finished a second after (a failed job after its fourth attempt).
OUTCOMES = """
UPDATE bb_jobs SET
  status = CASE WHEN seq % 100 < 3 THEN 'failed' WHEN seq % 100 = 3 THEN 'cancelled'
           ELSE 'succeeded' END,
  attempts = CASE WHEN seq % 100 < 3 THEN 4 WHEN seq % 100 = 3 THEN 0 ELSE 1 END,
  token = CASE WHEN seq % 100 < 3 THEN 4 WHEN seq % 100 = 3 THEN 0 ELSE 1 END,
  started_at = CASE WHEN seq % 100 = 3 THEN NULL ELSE created_at + 0.5 END,
  finished_at = created_at + 1.0,
  result = CASE WHEN seq % 100 > 3 THEN 'true' END,
  error = CASE WHEN seq % 100 < 3 THEN {error} WHEN seq % 100 = 3 THEN {cancelled} END,
  failures = CASE WHEN seq % 100 < 3 THEN {failures} ELSE '[]' END
WHERE seq <= (SELECT seq FROM bb_jobs WHERE id = {last})
"""
RUNNING = """
UPDATE bb_jobs SET status = 'running', attempts = 1, token = 1, worker_id = {worker},
  lease_until = {lease}, started_at = {started}, progress = {progress}
WHERE id = {id}
"""
PROGRESS = '{"done": 3, "total": 10, "message": "step 3 of 10"}'


def failures_sql(array: str, obj: str, param: str) -> str:
    """SQL building a failed job's four failures (Failure.to_json) from its created_at."""
    each = [
        f"{obj}('attempt', {a}, 'at', created_at + {a / 4}, 'error', {param})" for a in (1, 2, 3, 4)
    ]
    return f"{array}({', '.join(each)})"


def finish_sql(bb: Backburner, kind: str, last: str, running: Sequence[str], now: float) -> None:
    """Outcomes of every job up to `last`, and `running` held by worker-1 (SQL stores)."""
    if kind == "sqlite":
        conn: Any = sqlite3.connect(bb.store.path)  # type: ignore[attr-defined]
        p, array, obj = "?", "json_array", "json_object"
    else:
        import psycopg

        from backburner.stores.postgres_conn import parse_url

        options = parse_url(bb.store.url)
        conn = psycopg.connect(options.conninfo, autocommit=True)
        conn.execute(f'SET search_path TO "{options.schema}"')
        p, array, obj = "%s", "jsonb_build_array", "jsonb_build_object"
    failures = failures_sql(array, obj, p if kind == "sqlite" else "%s::text")
    sql = OUTCOMES if kind == "sqlite" else OUTCOMES.replace("%", "%%")  # psycopg's escape
    outcomes = sql.format(error=p, cancelled=p, failures=failures, last=p)
    conn.execute(outcomes, (ERROR, CANCELLED, *[ERROR] * 4, last))
    held = RUNNING.format(worker=p, lease=p, started=p, progress=p, id=p)
    for job_id in running:
        conn.execute(held, ("worker-1", now + DAY, now - 30, PROGRESS, job_id))
    if kind == "sqlite":
        conn.commit()
    else:  # as autovacuum would, in time: fresh statistics for the planner; and the
        # seeding's dirty pages written now, not while the pages are timed (a 2.9 s
        # Overview once, right after seeding, 48 ms on the same store settled)
        conn.execute("VACUUM ANALYZE bb_jobs")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
    conn.close()


def ready_member(run_at: float, seq: int, job_id: str) -> str:
    """A due job's member of its Redis ready set (lua/common.lua ready_member)."""
    return f"{min(max(run_at, 0.0), 9999999999999.0):020.6f}{seq:016d}|{job_id}"


def finish_redis(
    bb: Backburner, finished: Sequence[Row], running: Sequence[Row], first: int, now: float
) -> None:
    """The same outcomes as `finish_sql`, on Redis: `finished` are the jobs of sequence 1,
    2, ...; `running` those from sequence `first` on."""
    import redis

    from backburner.stores.redis_conn import parse_url

    server, prefix = parse_url(bb.store.url)
    client = redis.Redis.from_url(server)

    def key(*parts: object) -> str:
        return ":".join(("{" + prefix + "}", *map(str, parts)))

    failures = json.dumps(
        [{"attempt": a, "at": now - DAY + a, "error": ERROR} for a in range(1, ATTEMPTS + 1)]
    )
    for start in range(0, len(finished), 5000):
        pipe = client.pipeline(transaction=False)
        for seq, (job_id, queue, run_at) in enumerate(finished[start : start + 5000], start + 1):
            done = repr(run_at + 1.0)
            fields: dict[Any, Any] = {"finished_at": done}
            if failed(seq):
                status = "failed"
                fields.update(attempts=4, token=4, started_at=repr(run_at + 0.5))
                fields.update(error=ERROR, failures=failures)
            elif cancelled(seq):
                status = "cancelled"
                fields.update(error=CANCELLED)
            else:
                status = "succeeded"
                fields.update(attempts=1, token=1, started_at=repr(run_at + 0.5), result="true")
            pipe.hset(key("job", job_id), mapping={"status": status, **fields})
            pipe.zrem(key("idx", "queued", queue), job_id)
            pipe.zadd(key("idx", status, queue), {job_id: seq})
            pipe.zrem(key("ready", queue), ready_member(run_at, seq, job_id))
            pipe.zadd(key("finished"), {job_id: float(done)})
        pipe.execute()
    pipe = client.pipeline(transaction=False)
    for seq, (job_id, queue, run_at) in enumerate(running, first):
        fields = {"status": "running", "attempts": 1, "token": 1, "worker_id": "worker-1"}
        lease = repr(now + DAY)
        fields.update(lease_until=lease, started_at=repr(now - 30), progress=PROGRESS)
        pipe.hset(key("job", job_id), mapping=fields)
        pipe.zadd(key("leases"), {job_id: float(lease)})
        pipe.zrem(key("idx", "queued", queue), job_id)
        pipe.zadd(key("idx", "running", queue), {job_id: seq})
        pipe.zrem(key("ready", queue), ready_member(run_at, seq, job_id))
    pipe.execute()
    client.close()


def log_lines(attempts: int, per_attempt: int, at: float) -> list[LogLine]:
    return [
        LogLine(
            at + a + k / 1000,
            a,
            "stdout" if k % 3 else "log",
            None if k % 3 else "INFO",
            f"attempt {a}: step {k} of {per_attempt}, order processed in {k * 7} ms",
        )
        for a in range(1, attempts + 1)
        for k in range(per_attempt)
    ]


def extras(
    bb: Backburner, now: float, failed_id: str, recent: Sequence[str], running: Sequence[str]
) -> None:
    """What the other pages show: logs (the failed job's long one, the running and the
    newest finished jobs' short ones), two live workers, three ticks per schedule, a
    day of history and 1,000 audit entries."""
    store = bb.store
    logs = {failed_id: log_lines(ATTEMPTS, 250, now - DAY)}
    logs.update({job_id: log_lines(1, 20, now - 3600) for job_id in recent})
    logs.update({job_id: log_lines(1, 30, now - 30) for job_id in running})
    store.append_logs(logs)
    queues = tuple(sorted({queue for _, queue in TASKS}))
    for w, held in enumerate((running, ())):
        store.record_worker(
            WorkerInfo(
                f"worker-{w + 1}",
                f"host-{w + 1}",
                4000 + w,
                now - DAY,
                now,
                queues,
                tuple(held),
                tuple(bb.tasks),
            )
        )
    for schedule in bb.schedules.values():
        ticks = list(schedule.ticks(now - 3 * 3600, now))[-3:]
        for at in ticks:
            tick = Tick(schedule.name, at, schedule.definition, now - DAY, None, True, 0, at)
            store.enqueue_tick(tick, schedule.job_record(at, at))
    history(bb, now)
    audit(bb, now, recent)


def refresh_workers(bb: Backburner) -> None:
    """Heartbeats for the seeded workers, so the pages count them alive."""
    now = time.time()
    for info in bb.store.list_workers(0.0):
        bb.store.record_worker(replace(info, heartbeat_at=now))


def history(bb: Backburner, now: float) -> None:
    """A day of outcomes per minute and queue, as workers record them."""
    first = (now - DAY) // 60 * 60
    counts: dict[tuple[float, str, str], int] = {}
    for m in range(1440):
        for q, queue in enumerate(("default", "images", "mail", "reports")):
            counts[first + m * 60, queue, "succeeded"] = 40 + (m * 7 + q) % 23
            counts[first + m * 60, queue, "failed"] = (m + q) % 3
            counts[first + m * 60, queue, "retried"] = (m * 5 + q) % 4
    bb.store.add_history(counts)


def audit(bb: Backburner, now: float, job_ids: Sequence[str]) -> None:
    """Operators' actions over the last day: retries, cancels, pauses."""
    for k in range(1000):
        at = now - DAY + k * 86.4
        if k % 10 == 0:
            entry = AuditEntry(at, "ops@example.com", "pause", "mail", "", "10.0.0.7")
        else:
            action = "retry" if k % 3 else "cancel"
            target = job_ids[k % len(job_ids)]
            entry = AuditEntry(at, "alice", action, target, "", "10.0.0.12")
        bb.store.record_audit(entry)
