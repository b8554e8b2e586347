"""Periodic jobs: tick-to-enqueue delay with three workers on one store, and the CPU the
scheduler costs an idle worker.

    python -m bench.periodic [--url URL ...] [--seconds 30]

For each store, three `backburner worker` supervisors (1 child each, serving a queue no
job goes to, so they stay idle) run a schedule ticking every second. The delay of a tick
is its job's created_at minus the tick (made by whichever scheduler won the tick; the
write that follows takes a few more milliseconds). CPU is the supervisors' own
(user + system, from /proc, children excluded) per second of wall time, with the
scheduler and then with --no-periodic: the difference is the scheduler's. It prints
numbers; it is not a timed test.
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

from backburner.stores import open_store

from .core import ROOT
from .scratch import Scratch

WORKERS = 3
TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_URLS = (
    "sqlite",
    "redis://127.0.0.1:6379/15",
    "postgresql://127.0.0.1/test",
)


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` itself (not its children)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def _run(url: str, seconds: float, periodic: bool) -> tuple[list[float], float]:
    """Run WORKERS supervisors for `seconds`; returns the tick delays (s) and the mean
    CPU share of one supervisor (fraction of a core)."""
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    flag = "--periodic" if periodic else "--no-periodic"
    cmd = [sys.executable, "-m", "backburner", "worker", "bench.periodic_app:bb", "-p", "1"]
    procs = [
        subprocess.Popen(
            [*cmd, "--queues", "idle", flag],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(WORKERS)
    ]
    try:
        time.sleep(3)  # imports, forks, the first look: not the steady state measured
        started = time.time()
        cpu_before = [_cpu(p.pid) for p in procs]
        time.sleep(seconds)
        cpu = [_cpu(p.pid) - b for p, b in zip(procs, cpu_before)]
        ended = time.time()
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    store = open_store(url)
    delays = [
        r.created_at - r.scheduled_for
        for r in store.list_jobs(limit=100_000)
        if r.scheduled_for is not None and started <= r.scheduled_for <= ended
    ]
    store.close()
    return delays, statistics.mean(cpu) / (ended - started)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", help="store URL ('sqlite': a fresh file)")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    for base in args.url or DEFAULT_URLS:
        scratch = Scratch(None if base == "sqlite" else base, tempfile.mkdtemp(prefix="bb-"))
        url = scratch.url("periodic")
        try:
            delays, cpu = _run(url, args.seconds, periodic=True)
            _, baseline = _run(url, args.seconds / 2, periodic=False)
        finally:
            scratch.drop()
        kind = base.split(":")[0]
        p50 = _percentile(delays, 0.5) * 1e3
        print(
            f"{kind:10} ticks {len(delays):3}  tick-to-enqueue p50 {p50:6.1f} ms"
            f"  p99 {_percentile(delays, 0.99) * 1e3:6.1f} ms  max {max(delays) * 1e3:6.1f} ms"
            f"  (slowest: {', '.join(f'{d * 1e3:.0f}' for d in sorted(delays)[-3:])} ms)"
            f"  |  supervisor CPU {cpu * 100:.2f}% of a core"
            f" ({baseline * 100:.2f}% with --no-periodic)",
            flush=True,
        )


if __name__ == "__main__":
    main()
