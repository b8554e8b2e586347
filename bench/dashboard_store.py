"""The dashboard's store calls at scale: how long each takes with a million jobs.

    python -m bench.dashboard_store [--url BASE] [--jobs 1000000] [--repeat 5]

BASE: a PostgreSQL or Redis server URL (a fresh schema or prefix is made and dropped);
without it, a fresh SQLite file. Seeds `--jobs` jobs (tasks t0..t9, queues q0..q4,
arguments holding "user-<n>"): on SQL stores enqueued in batches then given their final
status by UPDATE (the newest 1% queued, 0.1% failed, 0.1% cancelled, the rest succeeded);
on Redis claimed and completed or failed through the store (so its index sets are right).
Adds a day of history (5 queues x 5 outcomes a minute) and 10,000 audit entries, then
times each call (the median of `--repeat`), with what it found.

It prints numbers; it is not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from backburner import policy
from backburner.job import JobRecord, JobStatus
from backburner.stores import AuditEntry, JobFilter, Store, open_store, sql_dashboard
from backburner.stores.base import Done

from .scratch import Scratch

BATCH = 5000


def _records(start: int, n: int, now: float) -> list[JobRecord]:
    return [
        JobRecord(
            id=uuid.uuid4().hex,
            task=f"t{i % 10}",
            queue=f"q{i % 5}",
            payload=f'[["user-{i}"],{{"n":{i}}}]',
            run_at=now,
            created_at=now,
        )
        for i in range(start, start + n)
    ]


def seed_sql(store: Store, jobs: int) -> None:
    now = time.time()
    for start in range(0, jobs, BATCH):
        store.enqueue(_records(start, min(BATCH, jobs - start), now))
    queued_from = jobs - jobs // 100  # the newest 1% stay queued
    sql = (
        "UPDATE {t} SET status = CASE WHEN seq % 1000 = 7 THEN 'failed' "
        "WHEN seq % 1000 = 8 THEN 'cancelled' ELSE 'succeeded' END, "
        "finished_at = {now}, attempts = 1, error = CASE WHEN seq % 1000 = 7 "
        "THEN 'Boom: seeded' END WHERE seq <= {last}"
    )
    if store.url.startswith("sqlite"):
        with store._write() as conn:  # type: ignore[attr-defined]
            conn.execute(sql.format(t="bb_jobs", now=now, last=queued_from))
            conn.execute("ANALYZE")
    else:
        with store._conn() as conn:  # type: ignore[attr-defined]
            conn.execute(sql.format(t=store._jobs, now=now, last=queued_from))  # type: ignore[attr-defined]
            conn.execute(f"VACUUM ANALYZE {store._jobs}")  # type: ignore[attr-defined]


def seed_redis(store: Store, jobs: int) -> None:
    now = time.time()
    for start in range(0, jobs, BATCH):
        store.enqueue(_records(start, min(BATCH, jobs - start), now))
    left = jobs - jobs // 100  # the newest 1% stay queued
    done: list[Done] = []
    n = 0
    while True:
        want = min(500, left - n)
        claimed = store.complete_and_claim(done, None, "seed", want, 60.0)[1]
        if not claimed:
            return
        done = []
        endings = []
        for r in claimed:
            if n % 1000 == 7:
                endings.append(policy.failed(r.id, r.token, "Boom: seeded", None))
            elif n % 1000 == 8:
                endings.append(policy.cancelled_by_force(r.id, r.token, 0.0))
            else:
                done.append(Done(r.id, r.token, None))
            n += 1
        store.end_attempts(endings)


def seed_rest(store: Store) -> None:
    now = time.time()
    minute = now - now % 60
    outcomes = ("succeeded", "failed", "retried", "cancelled", "lapsed")
    for m in range(0, 1440, 60):
        store.add_history(
            {
                (minute - 60 * (m + k), f"q{q}", o): 3
                for k in range(60)
                for q in range(5)
                for o in outcomes
            }
        )
    for i in range(10_000):
        store.record_audit(AuditEntry(now, "cli:bench", "retry", f"job{i}", "", "host"))


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, found = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        found = call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, found


def describe(found: Any) -> str:
    if isinstance(found, list):
        return f"{len(found)} rows"
    if isinstance(found, int):
        return f"= {found}"
    scanned = "" if found.scanned is None else f", scanned {found.scanned}"
    more = "more" if found.after else "end"
    return f"{len(found.jobs)} jobs, {more}{scanned}"


def measure(store: Store, jobs: int, repeat: int) -> None:
    """Time each call on a seeded store and print it, with what it found."""
    old = store.find_jobs(JobFilter(search="user-5"), limit=1)  # warm up
    middle = str(jobs // 2)  # a cursor halfway down (seq: enqueue order)
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("find_jobs()", lambda: store.find_jobs(JobFilter())),
        ("find_jobs(status=failed)", lambda: store.find_jobs(JobFilter(JobStatus.FAILED))),
        ("find_jobs(status=queued)", lambda: store.find_jobs(JobFilter(JobStatus.QUEUED))),
        ("find_jobs(task=t3)", lambda: store.find_jobs(JobFilter(task="t3"))),
        ("find_jobs(queue=q2)", lambda: store.find_jobs(JobFilter(queue="q2"))),
        (
            "find_jobs(search='user-12345\"')",
            lambda: store.find_jobs(JobFilter(search='user-12345"')),
        ),
        ("find_jobs(after=middle)", lambda: store.find_jobs(JobFilter(), after=middle)),
        (
            "find_jobs(failed, after=middle)",
            lambda: store.find_jobs(JobFilter(JobStatus.FAILED), after=middle),
        ),
        (
            "count_jobs(failed, 10000)",
            lambda: store.count_jobs(JobFilter(JobStatus.FAILED), 10_000),
        ),
        (
            "count_jobs(queue=q2, 10000)",
            lambda: store.count_jobs(JobFilter(queue="q2"), 10_000),
        ),
        (
            "count_jobs(task=t3, 10000)",
            lambda: store.count_jobs(JobFilter(task="t3"), 10_000),
        ),
        ("history(hour)", lambda: store.history(time.time() - 3600)),
        ("history(day)", lambda: store.history(time.time() - 86400)),
        ("history(day, step=900)", lambda: store.history(time.time() - 86400, step=900)),
        ("audit_log()", lambda: store.audit_log()),
        ("audit_log(before=5000)", lambda: store.audit_log(before=5000)),
    ]
    del old
    for name, call in calls:
        ms, found = timed(call, repeat)
        print(f"  {name:36} {ms:8.1f} ms   {describe(found)}")


def explain(store: Store, jobs: int) -> None:
    """Print the plans of the page statements (SQL stores): the way each window is read."""
    sqlite = store.url.startswith("sqlite")
    mark = (lambda n: f":{n}") if sqlite else (lambda n: f"%({n})s")
    find = "instr" if sqlite else "strpos"
    for name, f in [
        ("status=failed", JobFilter(JobStatus.FAILED)),
        ("status=queued", JobFilter(JobStatus.QUEUED)),
        ("queue=q2", JobFilter(queue="q2")),
        ("search", JobFilter(search='user-12345"')),
    ]:
        sql, params = sql_dashboard.window_sql(f, time.time(), mark, find, "seq")
        hint = sql_dashboard.sqlite_hint(f) if sqlite else ""
        sql = sql.format(jobs="{jobs}", hint=hint)
        params.update(low=jobs - 100_000, high=jobs, limit=51)
        if sqlite:
            plan = store._query("EXPLAIN QUERY PLAN " + sql, params)  # type: ignore[attr-defined]
            lines = [str(row[-1]) for row in plan]
        else:
            plan = store._query("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)  # type: ignore[attr-defined]
            lines = [str(row[0]) for row in plan]
        print(f"  plan of {name}:")
        for line in lines:
            print(f"      {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL or Redis server URL (default: SQLite)")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Scratch(args.url, folder)
        try:
            url = scratch.url("dashboard")
            if url.startswith("sqlite"):
                url += "?synchronous=normal"  # seeding syncs no commit: it is a bench
            store = open_store(url)
            store.migrate()
            began = time.monotonic()
            (seed_redis if store.url.startswith("redis") else seed_sql)(store, args.jobs)
            seed_rest(store)
            print(
                f"{store.url.split(':')[0]}: {args.jobs:,} jobs seeded in "
                f"{time.monotonic() - began:.0f}s"
            )
            if store.url.startswith("redis"):  # what a round trip costs here and now
                client = store._redis.connection().client  # type: ignore[attr-defined]
                ms, _ = timed(client.ping, 50)
                print(f"  (PING round trip: {ms:.2f} ms)")
            measure(store, args.jobs, args.repeat)
            if not store.url.startswith("redis"):
                explain(store, args.jobs)
            store.close()
        finally:
            scratch.drop()


if __name__ == "__main__":
    main()
