"""Many workers (issue 20, target 9): claim contention with 2, 4 and 16 worker processes
on one PostgreSQL and one Redis.

    python -m bench.many [--stores postgres,redis] [--jobs 30000] [--rounds 3]
                         [--layouts 1x2,1x4,4x4]

Each layout (1 supervisor with 2 processes, 1 with 4, 4 supervisors with 4 each) starts
its workers first and waits until every supervisor has registered, then one bulk enqueue
puts --jobs no-op jobs in the queue at once; the drain runs from the first job's start to
the last one's end. Meanwhile PostgreSQL's pg_stat_activity is sampled every 20 ms: of
the backends running this store's statements (matched by its schema name), how many were
active and what each waited on, Lock waits above all (a row or advisory lock taken by
another claim: contention that would grow with the worker count) and, through
pg_blocking_pids(), which statement of which backend each lock wait waits for. On Redis, the
server's CPU time per job (INFO cpu) says what the claims cost it. Medians of rounds; a
fresh store per drain.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from backburner import JobStatus

from .app import build
from .core import ROOT
from .procs import Workers
from .scale import SERVERS
from .scale_seed import option, server
from .scratch import Scratch


@dataclass
class Waits:
    """pg_stat_activity samples of one drain."""

    samples: int = 0
    active: int = 0  # backend-samples running one of our statements
    events: collections.Counter[str] = field(default_factory=collections.Counter)
    locked: collections.Counter[str] = field(default_factory=collections.Counter)  # statements
    # (waiting statement, the statement of the backend it waits for, that one's state)
    blockers: collections.Counter[str] = field(default_factory=collections.Counter)

    def lock_share(self) -> float:
        locks = sum(n for e, n in self.events.items() if e.startswith("Lock:"))
        return locks / self.active if self.active else 0.0


def sample_waits(url: str, stop: threading.Event, into: Waits) -> None:
    import psycopg

    schema = option(url, "schema")
    with psycopg.connect(server(url), autocommit=True) as conn:
        while not stop.wait(0.02):
            rows = conn.execute(BLOCKED_BY, (f'%"{schema}"%',)).fetchall()
            into.samples += 1
            into.active += len(rows)
            for kind, event, query, blockers in rows:
                into.events[f"{kind}:{event}" if kind else "CPU (no wait)"] += 1
                if kind == "Lock":
                    into.locked[statement(query)] += 1
                    for state, other in blockers or ():
                        into.blockers[f"{statement(query)} <- {statement(other)} ({state})"] += 1


# Each active backend running our statements, and for one waiting on a lock, what the
# backends it waits for (pg_blocking_pids) run: an idle-in-transaction blocker shows
# the last statement of its transaction.
BLOCKED_BY = """
SELECT a.wait_event_type, a.wait_event, a.query,
    CASE WHEN a.wait_event_type = 'Lock' THEN (
        SELECT array_agg(ARRAY[b.state, b.query]) FROM pg_stat_activity AS b
        WHERE b.pid = ANY(pg_blocking_pids(a.pid))) END
FROM pg_stat_activity AS a
WHERE a.state = 'active' AND a.pid <> pg_backend_pid() AND a.query LIKE %s
"""


def statement(query: str) -> str:
    """The first words of a statement, enough to tell ours apart."""
    return " ".join(query.split()[:6])[:60]


def redis_cpu(url: str) -> float:
    import redis

    info = redis.Redis.from_url(server(url)).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def drain(
    url: str, supervisors: int, processes: int, jobs: int, log: Path
) -> tuple[float, Waits, float]:
    """(jobs/s, wait samples, Redis server CPU seconds per 1,000 jobs) of one drain."""
    bb = build(url)
    bb.store.enqueue([])  # the schema exists before the workers race to make it
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    cmd = [
        sys.executable,
        "-m",
        "backburner",
        "worker",
        "bench.app:bb",
        "--log-level",
        "WARNING",
        "-p",
        str(processes),
    ]
    waits, stop = Waits(), threading.Event()
    with Workers([cmd] * supervisors, env, ROOT, log, grace=30.0):
        deadline = time.monotonic() + 120
        while len(bb.store.list_workers(time.time() - 60)) < supervisors:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{supervisors} workers did not register in 120 s; see {log}")
            time.sleep(0.2)
        time.sleep(2.0)  # their children have forked and wait for work
        sampler = None
        if url.startswith("postgres"):
            sampler = threading.Thread(target=sample_waits, args=(url, stop, waits))
            sampler.start()
        cpu0 = redis_cpu(url) if url.startswith("redis") else 0.0
        noop = bb.tasks["noop"]
        bb.enqueue_many(noop.s(i) for i in range(jobs))
        deadline = time.monotonic() + 600
        while True:
            counts = bb.store.counts().get("default", {})
            if counts.get(JobStatus.SUCCEEDED, 0) >= jobs:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"drain unfinished after 600 s: {counts}; see {log}")
            time.sleep(0.1)
        cpu = redis_cpu(url) - cpu0 if url.startswith("redis") else 0.0
        stop.set()
        if sampler is not None:
            sampler.join()
    done = bb.store.list_jobs(limit=jobs + 10)
    bb.close()
    first = min(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    return jobs / (last - first), waits, cpu * 1000 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="postgres,redis")
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--layouts", default="1x2,1x4,4x4", help="supervisors x processes, the first the base"
    )
    args = parser.parse_args()
    layouts = [(int(s), int(p)) for s, p in (each.split("x") for each in args.layouts.split(","))]
    lines = [f"machine: {os.cpu_count()} cores, shared by every process of the run"]
    with tempfile.TemporaryDirectory(prefix="bb-many-") as folder:
        log = Path(folder) / "workers.log"
        for name in args.stores.split(","):
            scratch = Scratch(SERVERS[name], folder)
            rates: dict[tuple[int, int], list[float]] = {layout: [] for layout in layouts}
            waits: dict[tuple[int, int], Waits] = {layout: Waits() for layout in layouts}
            cpus: dict[tuple[int, int], list[float]] = {layout: [] for layout in layouts}
            try:
                for r in range(args.rounds):
                    for s, p in layouts:
                        url = scratch.url(f"many{s}x{p}r{r}")
                        rate, w, cpu = drain(url, s, p, args.jobs, log)
                        rates[(s, p)].append(rate)
                        cpus[(s, p)].append(cpu)
                        total = waits[(s, p)]
                        total.samples += w.samples
                        total.active += w.active
                        total.events.update(w.events)
                        total.locked.update(w.locked)
                        total.blockers.update(w.blockers)
                        print(f"{name} round {r + 1}: {s}x{p} {rate:,.0f} jobs/s", flush=True)
            finally:
                scratch.drop()
            base = statistics.median(rates[layouts[0]])
            for s, p in layouts:
                rate = statistics.median(rates[(s, p)])
                line = (
                    f"{name}: {s} supervisor(s) x {p} processes = {s * p:2} processes: "
                    f"{rate:7,.0f} jobs/s ({rate / base:.2f}x of 2 processes)"
                )
                w = waits[(s, p)]
                if name == "postgres" and w.samples:
                    top = ", ".join(f"{e} {n / w.active:.0%}" for e, n in w.events.most_common(4))
                    line += (
                        f"; active backends {w.active / w.samples:.1f} on average, "
                        f"Lock waits {w.lock_share():.1%} of active samples ({top})"
                    )
                    if w.locked:
                        waiting = "; ".join(f"{q!r} x{n}" for q, n in w.locked.most_common(3))
                        line += f"; waiting statements: {waiting}"
                    if w.blockers:
                        held = "; ".join(f"{q} x{n}" for q, n in w.blockers.most_common(4))
                        line += f"; waiting <- holding: {held}"
                if name == "redis":
                    line += f"; Redis CPU {statistics.median(cpus[(s, p)]):.2f} s per 1,000 jobs"
                lines.append(line)
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
