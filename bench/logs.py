"""Job logs: what capture costs a worker, and how soon a print() reaches a browser.

    python -m bench.logs [--url URL] [--jobs 10000] [--rounds 3] [--lines 100]
                         [--tasks noop,ten_lines]

1. Drain throughput of no-op jobs with capture on (the default caps) and off
   (log_lines=0), rounds alternating, and of jobs that print 10 lines each (on and off:
   the worker's own log of those lines costs a share too):
   a `--burst` worker of 2 processes drains the jobs; jobs/s of wall time, and CPU per
   job of the worker tree (the steadier figure on a shared machine).
2. Latency from print() in a running job to the line arriving on the job's event stream
   (`GET /jobs/<id>/events`, Flask's dev server in this process, a real worker): p50
   and p90 over `--lines` lines printed 50 ms apart.

It prints numbers; it is not a timed test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from .core import ROOT
from .logs_app import build
from .scratch import Scratch

APP = "bench.logs_app:bb"


def _env(url: str, capture: bool) -> dict[str, str]:
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": path}
    if not capture:
        env["BENCH_LOG_LINES"] = "0"
    return env


def drain(url: str, task: str, jobs: int, capture: bool) -> tuple[float, float]:
    """Enqueue `jobs` jobs of `task`, drain them with a --burst worker of 2 processes:
    (jobs per second of wall time, microseconds of worker CPU per job)."""
    bb = build(url)
    submit = bb.tasks[task]
    for i in range(jobs):
        submit.delay(i)
    bb.close()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "backburner", "worker", APP, "--burst", "-p", "2"],
        env=_env(url, capture),
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return jobs / took, cpu * 1e6 / jobs


def fresh(base: str | None) -> tuple[str, Callable[[], None]]:
    """A fresh store URL like `base` (a new SQLite file when None), and its cleanup."""
    scratch = Scratch(base, tempfile.mkdtemp(prefix="bb-logs-"))
    url = scratch.url("drain")
    return url + ("?synchronous=normal" if base is None else ""), scratch.drop


def throughput(base: str | None, jobs: int, rounds: int, tasks: list[str]) -> None:
    cases = [(task, capture) for task in tasks for capture in (True, False)]
    figures: dict[tuple[str, bool], list[tuple[float, float]]] = {c: [] for c in cases}
    for round_ in range(rounds):
        # alternating, each round in the other order, so drift hits every case alike
        for task, capture in cases if round_ % 2 == 0 else cases[::-1]:
            url, cleanup = fresh(base)
            try:
                figures[task, capture].append(drain(url, task, jobs, capture))
            finally:
                cleanup()
            rate, cpu = figures[task, capture][-1]
            name = f"{task}, capture {'on' if capture else 'off'}"
            print(f"round {round_ + 1} {name:<22} {rate:8.0f} jobs/s {cpu:7.1f} us CPU/job")
    medians = {c: tuple(statistics.median(f[i] for f in figures[c]) for i in (0, 1)) for c in cases}
    print(f"\nmedian of {rounds} rounds, {jobs} jobs each:")
    for (task, capture), (rate, cpu) in medians.items():
        name = f"{task}, capture {'on' if capture else 'off'}"
        print(f"  {name:<22} {rate:8.0f} jobs/s {cpu:7.1f} us CPU/job")
    for task in tasks:
        on, off = medians[task, True], medians[task, False]
        print(
            f"  {task} capture on/off: throughput {on[0] / off[0]:.3f}, "
            f"CPU per job {on[1] / off[1]:.3f}"
        )


def latency(base: str | None, lines: int) -> None:
    from flask import Flask
    from werkzeug.serving import make_server

    url, cleanup = fresh(base)
    bb = build(url)
    app = Flask("bench")
    bb.init_app(app, api_prefix="/jobs", auth=lambda record, request: True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "backburner", "worker", APP, "-p", "1"],
        env=_env(url, True),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    delays: list[float] = []
    try:
        job = bb.tasks["clock"].delay(lines, 0.05)
        last = "0"
        while len(delays) < lines:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
            conn.request("GET", f"/jobs/{job.id}/events", headers={"Last-Event-ID": last})
            response = conn.getresponse()
            if response.status != 200:
                break
            kind = data = ""
            for raw in response:
                text = raw.decode().rstrip("\n")
                if text.startswith("event: "):
                    kind = text[7:]
                elif text.startswith("id: "):
                    last = text[4:]
                elif text.startswith("data: "):
                    data = text[6:]
                elif not text and kind == "log":
                    delays.append(time.time() - float(json.loads(data)["message"]))
            conn.close()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        server.shutdown()
        bb.close()
        cleanup()
    delays.sort()
    p50, p90 = delays[len(delays) // 2], delays[int(len(delays) * 0.9)]
    print(
        f"\nprint() to SSE event, {len(delays)} lines: p50 {p50 * 1000:.0f} ms, "
        f"p90 {p90 * 1000:.0f} ms (worker flushes every 0.25 s, stream polls every 0.2 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file per round)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=100, help="0: no latency figure")
    parser.add_argument(
        "--tasks", default="noop,ten_lines", help="comma-separated: noop, ten_lines"
    )
    args = parser.parse_args()
    throughput(args.url, args.jobs, args.rounds, args.tasks.split(","))
    if args.lines:
        latency(args.url, args.lines)


if __name__ == "__main__":
    main()
