"""Tasks the worker tests run in real worker processes (see test_worker.py).

The worker imports this module as `workerapp` with $BACKBURNER_URL naming the test's store;
tests build their own handle on the same store with `build(url)`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from backburner import Backburner, Retry, current_job


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="noop")
    def noop() -> None:
        return None

    @bb.task(name="pid")
    def pid() -> int:
        return os.getpid()

    @bb.task(name="hang_first", retries=1)
    def hang_first(marker: str) -> str:
        """Writes its pid to `marker`; the first attempt then hangs until killed."""
        Path(marker).write_text(f"{os.getpid()} {current_job.attempt}")
        if current_job.attempt == 1:
            time.sleep(120)
        return "second attempt ran"

    @bb.task(name="sleep")
    def sleep(seconds: float, marker: str | None = None) -> float:
        if marker:
            Path(marker).write_text(str(os.getpid()))
        time.sleep(seconds)
        return seconds

    @bb.task(name="too_slow", timeout=1, retries=0)
    def too_slow() -> None:
        time.sleep(60)

    @bb.task(name="suicide", retries=2, retry_backoff=0)
    def suicide() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    @bb.task(name="flaky", retries=3, retry_backoff=0.05)
    def flaky(failures: int) -> int:
        if current_job.attempt <= failures:
            raise ConnectionError(f"attempt {current_job.attempt} failed")
        return current_job.attempt

    @bb.task(name="retry_later", retries=1)
    def retry_later(delay: float) -> float:
        if current_job.attempt == 1:
            raise Retry(delay=delay)
        return time.time()

    @bb.task(name="until_cancelled", retries=3)
    def until_cancelled(marker: str) -> str:
        Path(marker).write_text("started")
        deadline = time.monotonic() + 60
        while not current_job.cancel_requested and time.monotonic() < deadline:
            current_job.set_progress(1, None, "waiting for cancel")
            time.sleep(0.05)
        raise RuntimeError("stopped on request")

    @bb.task(name="exits", retries=1, retry_backoff=0)
    def exits() -> int:
        if current_job.attempt == 1:
            sys.exit(3)
        return current_job.attempt

    @bb.task(name="interrupts", retries=1, retry_backoff=0)
    def interrupts() -> int:
        if current_job.attempt == 1:
            raise KeyboardInterrupt  # escapes the runner: its thread dies
        return current_job.attempt

    @bb.task(name="chatty")
    def chatty() -> None:
        print("hello from a job")
        logging.getLogger("userapp").warning("a warning from a job")

    @bb.task(name="async_until_cancelled", retries=0)
    async def async_until_cancelled(marker: str) -> str:
        Path(marker).write_text("started")
        deadline = time.monotonic() + 60
        while not current_job.cancel_requested and time.monotonic() < deadline:
            current_job.set_progress(1, None, "awaiting cancel")
            await asyncio.sleep(0.05)
        raise RuntimeError("stopped on request")

    @bb.task(name="async_too_slow", timeout=1, retries=0)
    async def async_too_slow() -> None:
        await asyncio.sleep(60)

    @bb.task(name="bad_text", retries=0)
    def bad_text() -> None:
        """Reports progress and raises with text no store keeps raw: a lone surrogate (a
        non-UTF-8 file name) and a NUL."""
        current_job.set_progress(1, 2, "reading bad \udcff name\x00end")
        raise ValueError("cannot open bad \udcff name\x00end")

    @bb.task(name="started_at")
    def started_at() -> float:
        return time.time()

    return bb


def without_pid() -> Backburner:
    """The same app without the "pid" task: an older deploy, or another app on the store."""
    app = build()
    del app.tasks["pid"]
    return app


bb = build()
