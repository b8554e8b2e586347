"""The article's three background tasks, as backburner tasks.

The article ran the same loop in a thread per request, in a uWSGI `@thread` and in the
uWSGI spooler; here all three are jobs: persisted, run by a bounded worker pool, retried,
and visible with their progress at a status URL.
"""

from __future__ import annotations

import time

from backburner import Backburner, current_job

# The URL comes from $BACKBURNER_URL (else sqlite:///backburner.db) or from the app's
# BACKBURNER_URL config; nothing opens the store until the first job is enqueued or read,
# so importing this module before a server forks its workers is safe.
bb = Backburner()


# expose_error=True: the status page shows these tasks' errors and printed lines (what a
# job prints may hold secrets, so the job API shows it only where a task or app says so)
def _work(duration: int, label: str) -> dict[str, int]:
    for i in range(duration):
        time.sleep(1)
        message = f"{label}... {i + 1}/{duration}"
        print(message)
        current_job.set_progress(i + 1, duration, message)
    return {"duration": duration}


@bb.task(name="seed.threaded_task", expose_result=True, expose_error=True)
def threaded_task(duration: int) -> dict[str, int]:
    """The article's `threading.Thread` task: one line a second for `duration` seconds."""
    return _work(duration, "Working")


@bb.task(name="seed.uwsgi_task", expose_result=True, expose_error=True)
def uwsgi_task(duration: int) -> dict[str, int]:
    """The article's uWSGI `@thread` task."""
    return _work(duration, "Working in uwsgi thread")


@bb.task(name="seed.spool_task", retries=3, expose_result=True, expose_error=True)
def spool_task(duration: int) -> dict[str, int]:
    """The article's spooler task. Its `SPOOL_RETRY` (retry forever, at once) becomes
    `retries=3` with exponential backoff; its bytes-only argument dict becomes an int
    checked at enqueue."""
    return _work(duration, "Working in uwsgi spool")
