"""Cost as the store grows (issue 20, target 5): an empty store against one holding a
million finished jobs and a hundred thousand queued, on SQLite, PostgreSQL and Redis.

    python -m bench.scale [--stores sqlite,postgres,redis] [--finished 1000000]
                          [--queued 100000] [--rounds 3]

Per store, each round measures an empty store (a new one each round) and the big one,
alternately, the same way: --queued jobs are put in the queue (bulk, untimed), then
  - enqueue: --single jobs, one per delay() call, one process;
  - claim+complete: --single jobs from the front of that queue, one per claim, one
    process, no worker;
  - drain: a --burst worker with 2 processes empties the queue; first start to last end.
On PostgreSQL the jobs table is vacuumed and analyzed after the queue is filled, as
autovacuum would do in time (see scale_seed.maintain). The big store's ratio to the
empty one is printed per figure (medians of the rounds; the
target is 0.8 or more). Then, on the big store:
  - bytes per stored job (see scale_seed.stored_bytes);
  - result expiry: the finished jobs are dated past the result TTL and a worker drains a
    new queue of --queued jobs while its upkeep deletes them (Store.prune);
  - purge: the store is filled again and this process purges every finished job while a
    worker drains a new queue.
  Under both, the drain rate and the longest pause between two job starts show whether
  the deletion stalled the worker.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

from backburner import Backburner, JobStatus

from . import scale_seed
from .app import build
from .core import claim_complete_rate, enqueue_rate, worker
from .scratch import Scratch

SERVERS = {
    "sqlite": None,
    "postgres": os.environ.get("BENCH_POSTGRES", "postgresql://127.0.0.1:5432/test"),
    "redis": os.environ.get("BENCH_REDIS_STORE", "redis://127.0.0.1:6379/0"),
}
OLD = 8 * 86400.0  # past the default result TTL (7 days)
RECENT = 3600.0


@dataclass
class Drain:
    """A drain by one worker: jobs/s from first start to last end, and the longest gap
    between two consecutive job starts (a stalled worker shows there)."""

    rate: float
    gap: float
    jobs: int


@dataclass
class Figures:
    enqueue: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    drain: list[float] = field(default_factory=list)
    gap: list[float] = field(default_factory=list)


def drain(url: str, expect: int, timeout: float = 900.0) -> Drain:
    """Run a --burst worker (2 processes) on `url` until it exits; its figures."""
    began = time.time()
    proc = worker(url, "--burst", "-p", "2")
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    bb = build(url)
    done = [
        r
        for r in bb.store.list_jobs(status=JobStatus.SUCCEEDED, limit=expect + 10)
        if r.started_at and r.started_at >= began
    ]
    bb.close()
    starts = sorted(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    gap = max((b - a for a, b in itertools.pairwise(starts)), default=0.0)
    return Drain(len(done) / (last - starts[0]), gap, len(done))


def one_round(bb: Backburner, url: str, args: argparse.Namespace, into: Figures) -> None:
    scale_seed.enqueue(bb, args.queued)
    scale_seed.maintain(url)
    into.enqueue.append(enqueue_rate(url, args.single))
    into.claim.append(claim_complete_rate(url, args.single, 1))
    d = drain(url, args.queued)
    into.drain.append(d.rate)
    into.gap.append(d.gap)


def deleting(url: str, jobs: int, delete: object) -> tuple[Drain, float, int]:
    """A worker drains `jobs` queued jobs while `delete()` (run in a thread here, or
    None: the worker's own upkeep does it) deletes. (drain, seconds the deletion took,
    jobs it deleted)."""
    bb = build(url)
    scale_seed.enqueue(bb, jobs)
    scale_seed.maintain(url)
    out: dict[str, float] = {}

    def run() -> None:
        began = time.perf_counter()
        out["deleted"] = delete()  # type: ignore[operator]
        out["seconds"] = time.perf_counter() - began

    thread = threading.Thread(target=run) if delete is not None else None
    began = time.perf_counter()
    if thread is not None:
        thread.start()
    d = drain(url, jobs)
    if thread is not None:
        thread.join()
    else:  # the worker pruned in its upkeep: time it took is bounded by the worker's run
        out["seconds"] = time.perf_counter() - began
        out["deleted"] = -1
    bb.close()
    return d, out["seconds"], int(out["deleted"])


def finished_left(url: str) -> int:
    bb = build(url)
    counts = bb.store.counts()
    bb.close()
    done = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
    return sum(n for q in counts.values() for s, n in q.items() if s in done)


def store_run(name: str, args: argparse.Namespace, folder: str) -> list[str]:
    scratch = Scratch(SERVERS[name], folder)
    lines = []
    try:
        big = scratch.url("big")
        bb = build(big)
        began = time.perf_counter()
        scale_seed.seed_finished(bb, big, args.finished, RECENT)
        seeded = time.perf_counter() - began
        used, how = scale_seed.stored_bytes(big)
        lines.append(
            f"{name}: seeded {args.finished:,} finished jobs in {seeded:.0f} s; "
            f"{used / args.finished:,.0f} bytes per stored job ({how})"
        )
        print(lines[-1], flush=True)
        empty, full = Figures(), Figures()
        for r in range(args.rounds):
            fresh = scratch.url(f"empty{r}")
            order = [(fresh, empty), (big, full)]
            for url, into in order if r % 2 == 0 else order[::-1]:
                one_round(build(url), url, args, into)
            print(
                f"{name} round {r + 1}: empty/big enqueue {empty.enqueue[-1]:,.0f}/"
                f"{full.enqueue[-1]:,.0f}, claim {empty.claim[-1]:,.0f}/{full.claim[-1]:,.0f}, "
                f"drain {empty.drain[-1]:,.0f}/{full.drain[-1]:,.0f} jobs/s",
                flush=True,
            )
        for label, key in (("enqueue", "enqueue"), ("claim+complete", "claim"), ("drain", "drain")):
            e = statistics.median(getattr(empty, key))
            f = statistics.median(getattr(full, key))
            lines.append(
                f"{name}: {label:15} empty {e:8,.0f}  big {f:8,.0f} jobs/s  big/empty {f / e:.2f}x"
            )
        lines.append(
            f"{name}: longest pause between job starts in a drain: empty "
            f"{statistics.median(empty.gap) * 1000:.0f} ms, big "
            f"{statistics.median(full.gap) * 1000:.0f} ms"
        )
        before = finished_left(big)
        scale_seed.backdate(big, OLD)
        d, _, _ = deleting(big, args.queued, None)
        old_left = finished_left(big) - d.jobs  # the jobs it drained stay: they are new
        lines.append(
            f"{name}: result expiry in a worker's upkeep: {before - old_left:,} of {before:,} "
            f"expired jobs deleted by the time it drained {d.jobs:,} jobs and exited; drain "
            f"meanwhile {d.rate:,.0f} jobs/s, longest pause between job starts "
            f"{d.gap * 1000:.0f} ms"
        )
        print(lines[-1], flush=True)
        bb = build(big)
        bb.store.purge()
        scale_seed.seed_finished(bb, big, args.finished, RECENT)
        d, seconds, deleted = deleting(big, args.queued, bb.store.purge)
        lines.append(
            f"{name}: purge of {deleted:,} finished jobs took {seconds:.1f} s "
            f"({deleted / seconds:,.0f} jobs/s); drain meanwhile {d.rate:,.0f} jobs/s, "
            f"longest pause {d.gap * 1000:.0f} ms"
        )
        bb.close()
    finally:
        scratch.drop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="bb-scale-") as folder:
        for name in args.stores.split(","):
            lines += store_run(name, args, folder)
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
