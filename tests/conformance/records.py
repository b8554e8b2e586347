"""Building JobRecords for store tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from backburner.job import JobRecord


def make(task: str = "t", **fields: Any) -> JobRecord:
    now = time.time()
    fields.setdefault("run_at", now)
    fields.setdefault("created_at", now)
    return JobRecord(id=uuid.uuid4().hex, task=task, **fields)


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll `condition()` until truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
