"""What flow control costs and how well a rate holds, for one store URL.

    python -m bench.limits [--url sqlite:///...] [--jobs 10000] [--rounds 2]
                           [--rate 50/s] [--seconds 30]

Prints, alternating the two kinds in each round: the drain throughput of no-op jobs
without a limit and with `concurrency=1000` (a worker with 2 processes, --burst, start-up
excluded; the limit is never reached, so this is the cost of checking it), and their
ratio. Then a rate-limited task run for `--seconds`: starts observed in that time against
the rate configured, and the most starts seen in any one window.
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

from backburner import Backburner
from backburner.job import JobStatus
from backburner.throttle import parse_rate
from bench.scratch import Scratch

ROOT = Path(__file__).resolve().parent.parent
RATE = os.environ.get("BENCH_LIMITS_RATE", "50/s")


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="noop")
    def noop(n: int = 0) -> None:
        return None

    @bb.task(name="noop_limited", concurrency=1000)
    def noop_limited(n: int = 0) -> None:
        return None

    @bb.task(name="rated", rate=RATE)
    def rated(n: int = 0) -> None:
        return None

    return bb


bb = build()


def worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path, "BENCH_LIMITS_RATE": RATE}
    command = [sys.executable, "-m", "backburner", "worker", "bench.limits:bb"]
    return subprocess.Popen(
        [*command, "--log-level", "WARNING", *args], env=env, cwd=ROOT, start_new_session=True
    )


def drain(url: str, task: str, n: int) -> float:
    """Jobs/s of a --burst worker with 2 processes draining `n` jobs of `task`."""
    app = build(url)
    fn = app.tasks[task]
    for i in range(n):
        fn.delay(i)
    worker(url, "--burst", "-p", "2").wait()
    done = [r for r in app.store.list_jobs(limit=n + 10) if r.finished_at]
    assert len(done) == n, f"only {len(done)} of {n} jobs finished"
    first = min(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    app.close()
    return n / (last - first)


def rate_run(url: str, seconds: float) -> tuple[int, int, int]:
    """(starts expected in `seconds`, starts observed, most starts in one window)."""
    rate = parse_rate(RATE)
    app = build(url)
    expected = int(rate.limit * seconds / rate.period)
    jobs = [app.tasks["rated"].delay(i) for i in range(expected + rate.limit * 2)]
    proc = worker(url, "-p", "2", "--threads", "2")
    try:
        time.sleep(seconds + 2.0)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    starts = sorted(
        r.started_at
        for r in app.store.list_jobs(status=JobStatus.SUCCEEDED, limit=len(jobs))
        if r.started_at is not None
    )
    app.close()
    first = starts[0]
    observed = len([t for t in starts if t < first + seconds])
    busiest = max(len([u for u in starts if t <= u < t + rate.period]) for t in starts)
    return expected, observed, busiest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Scratch(args.url, tmp)
        fresh = scratch.url  # an empty store per phase
        plain: list[float] = []
        limited: list[float] = []
        for i in range(args.rounds):
            plain.append(drain(fresh(f"plain{i}"), "noop", args.jobs))
            limited.append(drain(fresh(f"limited{i}"), "noop_limited", args.jobs))
            print(
                f"round {i + 1}: drain {args.jobs:,} no-op jobs, no limit {plain[-1]:8,.0f}/s, "
                f"concurrency=1000 {limited[-1]:8,.0f}/s ({limited[-1] / plain[-1]:.2f}x)"
            )
        ratio = statistics.median(limited) / statistics.median(plain)
        print(f"median: concurrency=1000 drains at {ratio:.2f}x the speed of no limit")
        expected, observed, busiest = rate_run(fresh("rate"), args.seconds)
        print(
            f"rate={RATE} over {args.seconds:g} s: {observed} starts, {expected} configured "
            f"({observed / expected:.1%}); most in one window: {busiest}"
        )
        scratch.drop()


if __name__ == "__main__":
    main()
