"""CPU seconds per job of one worker child's code, run in this process.

    python -m bench.child_cpu [--url URL] [--jobs 10000] [--rounds 3] [--log-level INFO]

`bench.cpu` measures the whole worker tree, which on a loaded shared machine swings by
tens of percent from one run to the next (three processes contend with everything else
for two cores). This runs just what a child runs per job (claim, execute, record, report
to the supervisor) in one process, with one thread, against the store, and a thread that
reads its reports as the supervisor would: fewer moving parts, so a change of a few
microseconds per job shows. System CPU is printed apart (the child's system calls).

`--log-level INFO` sets up the worker log as `backburner worker` does by default (a line
per job), written to /dev/null, and installs a child's capture of job output: what a real
child pays on top of the code above.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import select
import statistics
import tempfile
import threading

from backburner.worker import capture, child, reports
from backburner.worker.output import setup_logging
from backburner.worker.starts import Starts
from backburner.worker.supervisor import WorkerConfig

from .app import build
from .scratch import Scratch


def child_cpu(url: str, jobs: int) -> tuple[float, float]:
    """Drain `jobs` no-op jobs with one child's code; (user+system, system) us per job."""
    bb = build(url)
    for i in range(jobs):
        bb.tasks["noop"].delay(i)
    reader, writer = reports.pipe()
    done = threading.Event()

    def supervise() -> None:
        while not done.is_set():
            select.select([reader.fd], [], [], 0.02)
            reader.read()

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    commands, conn = multiprocessing.Pipe()  # no command is sent: the child just drains
    config = WorkerConfig(burst=True)
    state = child.ChildState(bb, config, "bench", conn, writer, Starts.for_threads(1))
    batcher = threading.Thread(target=state.batches.run)
    before = resource.getrusage(resource.RUSAGE_SELF)
    batcher.start()
    child._work(state)
    state.batches.close()
    batcher.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    supervisor.join()
    bb.close()
    for end in (reader, writer, commands, conn):
        end.close()
    system = after.ru_stime - before.ru_stime
    return (after.ru_utime - before.ru_utime + system) * 1e6 / jobs, system * 1e6 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file per round)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", help="the worker log's level (default: no worker log)")
    args = parser.parse_args()
    if args.log_level:
        devnull = open(os.devnull, "w")  # noqa: SIM115 (the log writes to it until exit)
        with contextlib.redirect_stderr(devnull):
            setup_logging(args.log_level)  # its handler keeps writing to /dev/null
        capture.install()
    figures = []
    for round_ in range(args.rounds):
        scratch = Scratch(args.url, tempfile.mkdtemp(prefix="bb-child-cpu-"))
        try:
            total, system = child_cpu(scratch.url("child"), args.jobs)
        finally:
            scratch.drop()
        figures.append(total)
        print(f"round {round_ + 1}: {total:.1f} us CPU per job ({system:.1f} system)", flush=True)
    print(f"median of {args.rounds}: {statistics.median(figures):.1f} us CPU per job")


if __name__ == "__main__":
    main()
