"""Store and worker figures for one backburner store URL.

    python -m bench.core [--url sqlite:///...] [--jobs 20000] [--latency 200]

Prints: enqueue rate (one job per delay() call, one process), claim+complete rate (one
process, no worker), drain throughput (a worker with 2 processes, --burst, start-up
excluded), enqueue-to-start latency p50/p99 on an idle worker, and the idle worker's CPU.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.app import build
from bench.scratch import Scratch

ROOT = Path(__file__).resolve().parent.parent


def enqueue_rate(url: str, n: int) -> float:
    bb = build(url)
    noop = bb.tasks["noop"]
    noop.delay(0)  # open the store outside the timing
    began = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    return n / (time.perf_counter() - began)


def claim_complete_rate(url: str, n: int, batch: int) -> float:
    bb = build(url)
    store = bb.store
    began = time.perf_counter()
    done = 0
    while done < n:
        claimed = store.claim(None, "bench", batch, 30.0)
        if not claimed:
            break
        for job in claimed:
            store.complete(job.id, job.token, None)
        done += len(claimed)
    return done / (time.perf_counter() - began)


def worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    # this tree's source first: the worker measures the code beside this file, not
    # whichever backburner the virtualenv happens to have installed
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backburner",
            "worker",
            "bench.app:bb",
            "--log-level",
            "WARNING",
            *args,
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )


def drain_throughput(url: str, n: int, processes: int) -> float:
    bb = build(url)
    bb.store.enqueue([])
    noop = bb.tasks["noop"]
    for i in range(n):
        noop.delay(i)
    proc = worker(url, "--burst", "-p", str(processes))
    proc.wait()
    done = [r for r in bb.store.list_jobs(limit=n + 10) if r.finished_at]
    assert len(done) == n, f"only {len(done)} of {n} jobs finished"
    first = min(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    return n / (last - first)


def cpu_seconds(pid: int) -> float:
    """User+system CPU of `pid` and its children (from /proc), in seconds."""
    total = 0.0
    for task in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def latency_and_idle_cpu(url: str, samples: int, idle_s: float) -> tuple[float, float, float]:
    bb = build(url)
    started = bb.tasks["started"]
    proc = worker(url, "-p", "2")
    try:
        started.delay(time.time()).wait(timeout=30)
        time.sleep(1.0)
        cpu0 = cpu_seconds(proc.pid)
        time.sleep(idle_s)
        idle_cpu = (cpu_seconds(proc.pid) - cpu0) / idle_s
        lags = []
        for _ in range(samples):
            time.sleep(0.02)  # idle again before each sample
            lags.append(started.delay(time.time()).wait(timeout=30))
        lags.sort()
        p50 = statistics.median(lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        return p50, p99, idle_cpu
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--enqueue", type=int, default=5_000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Scratch(args.url, tmp)
        fresh = scratch.url  # an empty store per phase
        rate = enqueue_rate(fresh("enqueue"), args.enqueue)
        print(f"enqueue, one job per delay():        {rate:10,.0f} jobs/s")
        print(
            f"claim+complete, 1 process, batch 1:  "
            f"{claim_complete_rate(fresh('enqueue'), args.enqueue, 1):10,.0f} jobs/s"
        )
        print(
            f"drain {args.jobs:,} no-op jobs, 2 processes: "
            f"{drain_throughput(fresh('drain'), args.jobs, 2):10,.0f} jobs/s"
        )
        p50, p99, cpu = latency_and_idle_cpu(fresh("latency"), args.latency, args.idle)
        print(
            f"idle enqueue-to-start:               p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
        print(f"idle worker CPU (supervisor+2 children): {cpu * 100:.2f}% of one core")
        scratch.drop()


if __name__ == "__main__":
    main()
