"""Tasks that write output, for the job log tests (test_logs_worker.py, test_logs_web.py):
run in real worker processes, which import this module as `logsapp` with
$BACKBURNER_URL naming the test's store."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from backburner import Backburner, current_job

log = logging.getLogger("logsapp")


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url, retry_backoff=0)

    @bb.task(name="speaks")
    def speaks() -> str:
        """One line on each stream, from the job's thread and from a thread it starts."""
        print("to stdout")
        sys.stderr.write("to stderr\n")
        log.warning("a %s record", "logging")
        try:
            raise KeyError("k")
        except KeyError:
            log.exception("with a traceback")
        helper = threading.Thread(target=lambda: print("from a thread the job started"))
        helper.start()
        helper.join()
        print("no newline at the end", end="")
        return "spoken"

    @bb.task(name="floods", log_lines=5)
    def floods(count: int) -> None:
        for i in range(count):
            print(f"line {i}")

    @bb.task(name="floods_bytes", log_bytes=100)
    def floods_bytes() -> None:
        for i in range(20):
            print(f"{i:02d}" + "x" * 28)  # 30 bytes a line: three fit

    @bb.task(name="silent_task", log_lines=0)
    def silent_task() -> None:
        print("not kept")

    @bb.task(name="fails_then_speaks", retries=2)
    def fails_then_speaks() -> int:
        print(f"attempt {current_job.attempt} starts")
        if current_job.attempt < 3:
            raise RuntimeError(f"attempt {current_job.attempt} failed")
        return current_job.attempt

    @bb.task(name="hangs_after_printing", retries=0)
    def hangs_after_printing(marker: str) -> None:
        print("before the hang")
        log.warning("a record before the hang")
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)

    @bb.task(name="ticks", retries=0)
    def ticks(count: int, pause: float) -> int:
        """A line and a progress step every `pause` seconds, `count` times."""
        for i in range(1, count + 1):
            print(f"tick {i}")
            current_job.set_progress(i, count, f"step {i}")
            time.sleep(pause)
        return count

    @bb.task(name="echo_at", retries=0)
    def echo_at(count: int, pause: float) -> None:
        """Prints its own clock `count` times, for the latency figure (bench/logs.py)."""
        for _ in range(count):
            print(f"{time.time()!r}")
            time.sleep(pause)

    @bb.task(name="ten_lines")
    def ten_lines() -> None:
        for i in range(10):
            print(f"line {i} of this job")

    @bb.task(name="nothing")
    def nothing() -> None:
        return None

    return bb


bb = build()
