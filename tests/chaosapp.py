"""The task that the chaos suite's real workers run (see tests/test_chaos.py).

Each run appends one line, "job_id attempt token pid", to a sink file of its own process
under $BACKBURNER_CHAOS_SINK before doing its work. The sink is plain files, so it
survives every fault the suite injects (worker kills, store server crashes): the test
compares what ran with what the store recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from backburner import Backburner
from backburner.context import _current

SINK_ENV = "BACKBURNER_CHAOS_SINK"
# Enough attempts that no job runs out of them under the suite's faults: a supervisor
# killed with a batch claimed costs each job of that batch a counted attempt.
RETRIES = 50


def append_run(sink: Path) -> None:
    """Append this run's line to this process's sink file.

    One `os.write` on an O_APPEND file: a line is never torn or interleaved, whatever
    kills the process a moment later. The file is reopened per run because workers fork.
    """
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("append_run() is only meaningful inside a running job")
    line = f"{ctx.id} {ctx.attempt} {ctx.token} {os.getpid()}\n".encode()
    fd = os.open(sink / f"{os.getpid()}.runs", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def build(url: str | None = None) -> Backburner:
    """The chaos app on `url` (default: $BACKBURNER_URL, as the worker command reads it)."""
    bb = Backburner(url)

    # retry_backoff is small so that retries of killed attempts fit the suite's minute
    @bb.task(name="chaos.record", retries=RETRIES, retry_backoff=0.01)
    def record(n: int, hold: float) -> int:
        sink = os.environ.get(SINK_ENV)
        if sink:
            append_run(Path(sink))
        time.sleep(hold)  # the work: a window in which faults can land
        return n

    return bb


bb = build()
