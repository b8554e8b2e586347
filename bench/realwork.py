"""Real work (issue 20, target 6): jobs that wait on I/O, and CPU-bound jobs.

    python -m bench.realwork [--stores sqlite,postgres,redis] [--io-jobs 8000]
                             [--cpu-jobs 600] [--rounds 3]

I/O: --io-jobs jobs that each sleep 10 ms, drained by one worker with `--processes 2
--threads 8`: 16 jobs can wait at once, so the ideal is 16 / 0.01 s = 1,600 jobs/s; the
target is 90% of it. CPU: --cpu-jobs jobs of pure Python arithmetic (about 10 ms each on
an idle core) drained with `--processes 1`, then 2 (one thread each): throughput should
scale with processes up to the core count. Each drain is a --burst worker; its figure
runs from the first job's start to the last one's end, so start-up is excluded. Medians
of --rounds rounds; one fresh store per drain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from .core import ROOT
from .realwork_app import build
from .scale import SERVERS
from .scratch import Scratch

IDEAL_IO = 2 * 8 / 0.01


def drain(url: str, task: str, jobs: int, *options: str) -> float:
    """Queue `jobs` jobs of `task`, drain them with a --burst worker; jobs/s."""
    bb = build(url)
    bb.enqueue_many(bb.tasks[task].s() for _ in range(jobs))
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backburner",
            "worker",
            "bench.realwork_app:bb",
            "--burst",
            "--log-level",
            "WARNING",
            *options,
        ],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    done = [r for r in bb.store.list_jobs(limit=jobs + 10) if r.finished_at]
    bb.close()
    assert len(done) == jobs, f"only {len(done)} of {jobs} jobs finished"
    first = min(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    return jobs / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--io-jobs", type=int, default=8_000)
    parser.add_argument("--cpu-jobs", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}"]
    for name in args.stores.split(","):
        io, cpu1, cpu2 = [], [], []
        with tempfile.TemporaryDirectory(prefix="bb-realwork-") as folder:
            scratch = Scratch(SERVERS[name], folder)
            try:
                for r in range(args.rounds):
                    url = scratch.url
                    io.append(drain(url(f"io{r}"), "io", args.io_jobs, "-p", "2", "-t", "8"))
                    cpu1.append(drain(url(f"cpua{r}"), "cpu", args.cpu_jobs, "-p", "1"))
                    cpu2.append(drain(url(f"cpub{r}"), "cpu", args.cpu_jobs, "-p", "2"))
                    print(
                        f"{name} round {r + 1}: io {io[-1]:,.0f} jobs/s, cpu -p1 "
                        f"{cpu1[-1]:,.0f}, -p2 {cpu2[-1]:,.0f} jobs/s",
                        flush=True,
                    )
            finally:
                scratch.drop()
        rate = statistics.median(io)
        one, two = statistics.median(cpu1), statistics.median(cpu2)
        lines.append(
            f"{name}: I/O 10 ms, -p 2 -t 8: {rate:,.0f} jobs/s = {rate / IDEAL_IO:.0%} of "
            f"the ideal {IDEAL_IO:,.0f} (target >= 90%)"
        )
        lines.append(
            f"{name}: CPU-bound: -p 1 {one:,.0f} jobs/s, -p 2 {two:,.0f} jobs/s: "
            f"{two / one:.2f}x with 2 processes on {os.cpu_count()} cores"
        )
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
