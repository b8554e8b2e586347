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
import resource
import statistics
import subprocess
import sys
import tempfile

from .core import ROOT
from .realwork_app import build
from .scale import SERVERS
from .scratch import Scratch

IDEAL_IO = 2 * 8 / 0.01


def drain(url: str, task: str, jobs: int, *options: str) -> tuple[float, float]:
    """Queue `jobs` jobs of `task`, drain them with a --burst worker: (jobs/s, the cores
    the worker tree got meanwhile: its CPU seconds, start-up included, over the drain)."""
    bb = build(url)
    bb.enqueue_many(bb.tasks[task].s() for _ in range(jobs))
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = [r for r in bb.store.list_jobs(limit=jobs + 10) if r.finished_at]
    bb.close()
    assert len(done) == jobs, f"only {len(done)} of {jobs} jobs finished"
    first = min(r.started_at or 0 for r in done)
    last = max(r.finished_at or 0 for r in done)
    return jobs / (last - first), cpu / (last - first)


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--io-jobs", type=int, default=8_000)
    parser.add_argument("--cpu-jobs", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}"]
    for name in args.stores.split(","):
        runs: dict[str, list[tuple[float, float]]] = {"io": [], "p1": [], "p2": []}
        with tempfile.TemporaryDirectory(prefix="bb-realwork-") as folder:
            scratch = Scratch(SERVERS[name], folder)
            try:
                for r in range(args.rounds):
                    url = scratch.url
                    io = drain(url(f"io{r}"), "io", args.io_jobs, "-p", "2", "-t", "8")
                    runs["io"].append(io)
                    runs["p1"].append(drain(url(f"cpua{r}"), "cpu", args.cpu_jobs, "-p", "1"))
                    runs["p2"].append(drain(url(f"cpub{r}"), "cpu", args.cpu_jobs, "-p", "2"))
                    print(
                        f"{name} round {r + 1}: "
                        + ", ".join(
                            f"{k} {v[-1][0]:,.0f} jobs/s ({v[-1][1]:.2f} cores)"
                            for k, v in runs.items()
                        ),
                        flush=True,
                    )
            finally:
                scratch.drop()
        rate, cores = _medians(runs["io"])
        lines.append(
            f"{name}: I/O 10 ms, -p 2 -t 8: {rate:,.0f} jobs/s = {rate / IDEAL_IO:.0%} of "
            f"the ideal {IDEAL_IO:,.0f} (target >= 90%); the worker tree used {cores:.2f} cores"
        )
        (one, one_cores), (two, two_cores) = _medians(runs["p1"]), _medians(runs["p2"])
        lines.append(
            f"{name}: CPU-bound: -p 1 {one:,.0f} jobs/s on {one_cores:.2f} cores, -p 2 "
            f"{two:,.0f} jobs/s on {two_cores:.2f} cores: {two / one:.2f}x the jobs/s; "
            f"jobs per CPU-second {one / one_cores:,.0f} and {two / two_cores:,.0f}"
        )
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
