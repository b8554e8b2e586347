"""The project's Backburner: one per project, like Django's settings.

Tasks register on it at import (orders/tasks.py). Every job runs between two calls of
`close_old_connections()`, as every request does, so a worker thread drops a database
connection that has gone bad or outlived CONN_MAX_AGE instead of failing jobs with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections

from backburner import Backburner

bb = Backburner(settings.BACKBURNER_URL)


@contextmanager
def database_connections() -> Iterator[None]:
    """What Django's request_started and request_finished signals do, around a job."""
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


bb.add_job_wrapper(database_connections)
