"""workerapp's tasks, with receivers of backburner's signals that append a line per
event to $BB_SIGNAL_LOG: a test reads it to see what a real worker's processes sent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backburner import Backburner, Job, signals
from workerapp import build  # type: ignore[import-not-found]

bb: Backburner = build()
LOG = Path(os.environ["BB_SIGNAL_LOG"])


def _write(line: str) -> None:
    with LOG.open("a") as out:  # one short append per line: whole lines from every process
        out.write(line + "\n")


@signals.job_retrying.connect_via(bb)
def _retrying(sender: Backburner, job: Job, error: str, exception: Any, **_: Any) -> None:
    _write(f"retrying {job.id} {type(exception).__name__} {error.splitlines()[0]}")


@signals.job_failed.connect_via(bb)
def _failed(sender: Backburner, job: Job, error: str, exception: Any, **_: Any) -> None:
    _write(f"failed {job.id} {type(exception).__name__} {error.splitlines()[0]}")


@signals.worker_started.connect_via(bb)
def _started(sender: Backburner, worker_id: str, **_: Any) -> None:
    _write(f"worker_started {os.getpid()}")


@signals.worker_stopping.connect_via(bb)
def _stopping(sender: Backburner, worker_id: str, reason: str, **_: Any) -> None:
    _write(f"worker_stopping {reason}")
