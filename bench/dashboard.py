"""Dashboard page times with many jobs in the store (issue 19: under 200 ms per page).

    python -m bench.dashboard [--jobs 10000,1000000] [--stores sqlite,postgres,redis]
                              [--repeat 5] [--keep]

For each store and size, a scratch store is filled with a realistic mix of jobs
(bench/dashboard_seed.py: 1,000,000 on SQLite and PostgreSQL; Redis gets at most
200,000), then each store call the pages make, and each dashboard page through the
Flask test client of an app with the dashboard mounted, is timed: one warm-up, then
median and max of `--repeat` requests, in milliseconds. Scratch stores are removed at
the end (`--keep` leaves the SQLite files). It prints numbers; it is not a timed test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backburner import Backburner, JobStatus
from backburner.stores.base import JobFilter, JobPage
from backburner.stores.dashboard import cursor

from .dashboard_app import build
from .dashboard_seed import Seeded, refresh_workers, seed
from .scratch import Scratch

SERVERS = {"postgres": "postgresql://127.0.0.1/test", "redis": "redis://127.0.0.1:6379/15"}
REDIS_MAX = 200_000
LIMIT_MS = 200.0


@dataclass(frozen=True)
class Timing:
    name: str
    median_ms: float
    max_ms: float
    note: str = ""


def timed(name: str, call: Callable[[], Any], repeat: int) -> Timing:
    """One warm-up call, then `repeat` timed ones; noted: what the last one found."""
    call()
    took = []
    for _ in range(repeat):
        began = time.perf_counter()
        found = call()
        took.append((time.perf_counter() - began) * 1000)
    return Timing(name, statistics.median(took), max(took), found_note(found))


def found_note(found: Any) -> str:
    """What a find_jobs or count_jobs call answered, to see that it answered right."""
    if isinstance(found, JobPage):
        more = "" if found.after is None else ", more"
        stopped = "" if found.scanned is None else f", stopped after {found.scanned:,} jobs"
        return f"{len(found.jobs)} jobs{more}{stopped}"
    if isinstance(found, int):
        return f"{found:,}"
    return ""


def store_calls(bb: Backburner, seeded: Seeded) -> list[tuple[str, Callable[[], Any]]]:
    """The store calls beneath the pages, by the page that makes them."""
    store = bb.store
    task = "reports.build"
    failed = JobFilter(status=JobStatus.FAILED)

    def find(f: JobFilter, after: str | None = None) -> Callable[[], Any]:
        return lambda: store.find_jobs(f, after=after, limit=50)

    def count(f: JobFilter) -> Callable[[], Any]:
        return lambda: store.count_jobs(f, 10_000)

    now = time.time()
    return [
        ("stats (overview, queues)", lambda: store.stats(time.time(), time.time() - 60)),
        ("history of an hour", lambda: store.history(now - 3600)),
        ("history of a day per hour", lambda: store.history(now - 86400, step=3600)),
        ("list_workers", lambda: store.list_workers(time.time() - 60)),
        ("paused_queues", store.paused_queues),
        ("find_jobs unfiltered", find(JobFilter())),
        ("find_jobs status=failed", find(failed)),
        ("find_jobs status=queued", find(JobFilter(status=JobStatus.QUEUED))),
        ("find_jobs status=scheduled", find(JobFilter(status=JobStatus.SCHEDULED))),
        ("find_jobs status=running", find(JobFilter(status=JobStatus.RUNNING))),
        ("find_jobs status=waiting", find(JobFilter(status=JobStatus.WAITING))),
        ("find_jobs status=succeeded", find(JobFilter(status=JobStatus.SUCCEEDED))),
        (f"find_jobs task={task}", find(JobFilter(task=task))),
        ("find_jobs queue=images", find(JobFilter(queue="images"))),
        ("find_jobs failed+queue=mail", find(JobFilter(status=JobStatus.FAILED, queue="mail"))),
        (f"search '{seeded.rare_text}' (1 job)", find(JobFilter(search=seeded.rare_text))),
        (f"search '{seeded.common_text}'", find(JobFilter(search=seeded.common_text))),
        ("search 'no-such-text'", find(JobFilter(search="no-such-text"))),
        ("search by job id", find(JobFilter(search=seeded.failed_id))),
        ("find_jobs late page (cursor)", find(JobFilter(), cursor(seeded.jobs // 2))),
        ("find_jobs failed late page", find(failed, cursor(seeded.jobs // 2))),
        ("count_jobs status=failed", count(failed)),
        (f"count_jobs task={task}", count(JobFilter(task=task))),
        ("count_jobs unfiltered", count(JobFilter())),
        ("get (job page)", lambda: store.get(seeded.failed_id)),
        ("logs of the failed job", lambda: store.logs(seeded.failed_id)),
        ("dependencies+dependents", lambda: store.links([seeded.scheduled_id])),
        ("last_ticks", lambda: store.last_ticks(list(bb.schedules))),
        ("audit_log", lambda: store.audit_log(limit=100)),
    ]


def pages(bb: Backburner, seeded: Seeded) -> list[tuple[str, Callable[[], Any]]]:
    """Each dashboard page, through the Flask test client of an app mounting it."""
    from flask import Flask

    app = Flask("bench")
    bb.init_app(app, dashboard_prefix="/dash", dashboard_access=lambda request: "all")
    client = app.test_client()

    def get(path: str) -> Callable[[], Any]:
        def call() -> None:
            response = client.get(f"/dash{path}")
            if response.status_code != 200:
                raise RuntimeError(f"GET /dash{path}: {response.status}")

        return call

    late = cursor(seeded.jobs // 2)
    return [
        ("Overview", get("/")),
        ("Overview, live part", get("/?fragment=1")),
        ("Queues", get("/queues")),
        ("Jobs", get("/jobs")),
        ("Jobs status=failed", get("/jobs?status=failed")),
        ("Jobs status=scheduled", get("/jobs?status=scheduled")),
        ("Jobs task=reports.build", get("/jobs?task=reports.build")),
        ("Jobs queue=images", get("/jobs?queue=images")),
        (f"Jobs search {seeded.rare_text}", get(f"/jobs?q={seeded.rare_text}")),
        (f"Jobs search {seeded.common_text}", get(f"/jobs?q={seeded.common_text}")),
        ("Jobs search no-such-text", get("/jobs?q=no-such-text")),
        ("Jobs late page (cursor)", get(f"/jobs?after={late}")),
        ("Job (failed, 1,000 log lines)", get(f"/jobs/{seeded.failed_id}")),
        ("Job (running)", get(f"/jobs/{seeded.running_id}")),
        ("Workers", get("/workers")),
        ("Periodic", get("/periodic")),
        ("Audit", get("/audit")),
    ]


def print_table(title: str, rows: list[Timing]) -> None:
    print(f"\n{title}")
    width = max(len(r.name) for r in rows)
    print(f"  {'':<{width}} {'median ms':>10} {'max ms':>8}")
    for r in rows:
        flag = "  OVER 200 ms" if r.median_ms > LIMIT_MS else ""
        note = f"  ({r.note})" if r.note else ""
        print(f"  {r.name:<{width}} {r.median_ms:10.1f} {r.max_ms:8.1f}{note}{flag}")


def run(kind: str, n: int, repeat: int, scratch: Scratch) -> None:
    url = scratch.url(f"dash{n}")
    bb = build(url)
    try:
        seeded = seed(bb, kind, n)
        print(f"\n{kind}, {n:,} jobs: seeded in {seeded.seconds:.0f} s")
        refresh_workers(bb)
        rows = [timed(name, call, repeat) for name, call in store_calls(bb, seeded)]
        print_table(f"{kind}, {n:,} jobs: store calls", rows)
        rows = [timed(name, call, repeat) for name, call in pages(bb, seeded)]
        print_table(f"{kind}, {n:,} jobs: pages (Flask test client)", rows)
    finally:
        bb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="10000,1000000", help="sizes, comma-separated")
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the SQLite files")
    options = parser.parse_args()
    sizes = [int(s) for s in options.jobs.split(",")]
    folder = tempfile.mkdtemp(prefix="bb-dashboard-")
    try:
        for kind in options.stores.split(","):
            scratch = Scratch(SERVERS.get(kind), folder)
            try:
                for n in dict.fromkeys(min(s, REDIS_MAX) if kind == "redis" else s for s in sizes):
                    run(kind, n, options.repeat, scratch)
            finally:
                scratch.drop()
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
