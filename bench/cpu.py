"""CPU seconds per job of a whole worker tree draining no-op jobs.

    python -m bench.cpu [--url URL] [--jobs 30000] [--rounds 3]

Throughput on a shared 2-core machine swings with whatever else runs; the CPU a worker
spends per job (supervisor and children together, from the kernel's accounting of
reaped processes) swings much less, so it is the figure to compare two versions of the
worker by: run this on both, alternately. It prints numbers; it is not a timed test.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

from .core import ROOT, build
from .scratch import Scratch


def cpu_per_job(url: str, jobs: int) -> float:
    """Enqueue `jobs` no-op jobs, drain them with a --burst worker of 2 processes, and
    return the worker tree's user+system CPU per job, in microseconds."""
    bb = build(url)
    noop = bb.tasks["noop"]
    for i in range(jobs):
        noop.delay(i)
    bb.close()
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "backburner", "worker", "bench.app:bb", "--burst", "-p", "2"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used * 1e6 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file per round)")
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = []
    for round_ in range(args.rounds):
        scratch = Scratch(args.url, tempfile.mkdtemp(prefix="bb-cpu-"))  # fresh each round
        try:
            figures.append(cpu_per_job(scratch.url("drain"), args.jobs))
        finally:
            scratch.drop()
        print(f"round {round_ + 1}: {figures[-1]:.1f} us CPU per job", flush=True)
    print(f"median of {args.rounds}: {statistics.median(figures):.1f} us CPU per job")


if __name__ == "__main__":
    main()
