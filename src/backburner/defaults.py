"""The one definition of every default: change a value here and it changes everywhere.

`Settings`, `Backburner(...)`, `@bb.task`, `JobRecord`, the stores, the CLI and the Flask
config all read these names instead of repeating the numbers. Imports nothing from
backburner, so any module (stores included) can use it without an import cycle.
"""

from __future__ import annotations

URL = "sqlite:///backburner.db"
"""The store when neither a URL nor $BACKBURNER_URL is given."""

QUEUE = "default"
"""The queue of a task that names none."""

PRIORITY = 0
"""The priority of a job that names none; higher runs first."""

RETRIES = 3
"""How many times a failed job is retried: `RETRIES + 1` attempts in all."""

RETRY_BACKOFF = 1.0
"""Base delay in seconds of exponential backoff with full jitter between attempts."""

RESULT_TTL = 7 * 86400.0
"""Seconds a finished job (its result, its errors) is kept before pruning: a week."""

LEASE = 30.0
"""Seconds a worker holds a job without heartbeating before another may take it."""

CANCEL_GRACE = 10.0
"""Seconds a job cancelled by force (`job.cancel(force=True)`) gets to return once its
worker has told it, before the worker stops its process."""

# -- worker pool (`backburner worker`, `bb.run_worker()`) ------------------------------
PROCESSES = 2
"""Worker processes in a pool."""

THREADS = 1
"""Threads per worker process."""

SHUTDOWN_TIMEOUT = 30.0
"""Seconds running jobs get to finish on SIGTERM before being handed back."""

LOG_LEVEL = "INFO"
"""The level of a worker's own log lines."""

# -- per-job logs (print, stderr and logging inside a job, kept per attempt) -----------
LOG_LINES = 1000
"""The most lines of a job's output kept per attempt; 0 keeps none (capture off)."""

LOG_BYTES = 256 * 1024
"""The most bytes (UTF-8) of a job's output kept per attempt; 0 keeps none."""
