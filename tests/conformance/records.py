"""Building JobRecords for store tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from backburner.job import JobRecord

from ..helpers import wait_until

__all__ = ["make", "wait_until"]


def make(task: str = "t", **fields: Any) -> JobRecord:
    now = time.time()
    fields.setdefault("run_at", now)
    fields.setdefault("created_at", now)
    return JobRecord(id=uuid.uuid4().hex, task=task, **fields)
