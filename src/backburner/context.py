"""`current_job`: what a running task can ask about the job it is running."""

from __future__ import annotations

import datetime as dt
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .codec import storable_text
from .limits import is_finite

if TYPE_CHECKING:
    from .stores.base import Store

PROGRESS_INTERVAL = 0.25  # seconds between progress writes; the last one is always written


class JobContext:
    """The job a task is running in this context; workers and drain() create one per attempt."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        token: int,
        attempt: int,
        task: str,
        scheduled_for: float | None = None,
    ) -> None:
        self.store = store
        self.scheduled_for = scheduled_for
        self.id = job_id
        self.token = token
        self.attempt = attempt
        self.task = task
        self.cancel_requested = False
        self._pending: dict[str, Any] | None = None
        self._written_at = 0.0

    def set_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Record progress; written at most every PROGRESS_INTERVAL s, the rest on flush()."""
        _check_progress(done, total)
        if message is not None and not isinstance(message, str):
            raise TypeError(
                f"set_progress(message={message!r}): message must be a str or None; "
                "pass str(...) of it"
            )
        if message is not None:  # a message no store could keep must not fail the job
            message = storable_text(message)
        self._pending = {"done": done, "total": total, "message": message}
        now = time.monotonic()
        if now - self._written_at >= PROGRESS_INTERVAL or (total is not None and done >= total):
            self.flush()

    def flush(self) -> None:
        """Write progress not yet stored."""
        if self._pending is not None:
            self.store.set_progress(self.id, self.token, self._pending)
            self._pending = None
            self._written_at = time.monotonic()


def _check_progress(done: float, total: float | None) -> None:
    # NaN or infinity would be stored as JSON no client can parse, or refused by the store
    if not isinstance(done, (int, float)) or not is_finite(done):
        raise ValueError(f"set_progress(done={done!r}): done must be a finite number")
    if total is not None and (
        not isinstance(total, (int, float)) or not is_finite(total) or total < 0
    ):
        raise ValueError(
            f"set_progress(total={total!r}): total must be a finite number >= 0 or None"
        )


_current: ContextVar[JobContext | None] = ContextVar("backburner_current_job", default=None)


class CurrentJob:
    """Proxy to the job running in this context.

    Outside a job (a task called as a plain function) `id` is None, `attempt` is 0,
    `set_progress` does nothing and `cancel_requested` is False, so a task runs the same
    inline as in a worker.
    """

    @property
    def id(self) -> str | None:
        ctx = _current.get()
        return None if ctx is None else ctx.id

    @property
    def attempt(self) -> int:
        """1 on the first attempt, 2 on the first retry, ...; a run handed back uncounted
        (shutdown) leaves it unchanged for the next run: see `run_id`."""
        ctx = _current.get()
        return 0 if ctx is None else ctx.attempt

    @property
    def run_id(self) -> str | None:
        """A key that differs on every run of the job, "<job id>.<fencing token>": key
        side effects that must happen once per run on it. `attempt` may repeat: a run that
        a graceful shutdown stopped, or whose result could not be recorded before the
        worker stopped, is handed back uncounted, and the next run sees the same attempt."""
        ctx = _current.get()
        return None if ctx is None else f"{ctx.id}.{ctx.token}"

    @property
    def scheduled_for(self) -> dt.datetime | None:
        """The tick of a periodic job (`bb.periodic`) as an aware UTC datetime: when it was
        meant to run, whatever delay it met; None for other jobs and outside a job."""
        ctx = _current.get()
        if ctx is None or ctx.scheduled_for is None:
            return None
        return dt.datetime.fromtimestamp(ctx.scheduled_for, dt.timezone.utc)

    @property
    def task(self) -> str | None:
        ctx = _current.get()
        return None if ctx is None else ctx.task

    @property
    def cancel_requested(self) -> bool:
        """True once `job.cancel()` was called on this running job: stop early if you can."""
        ctx = _current.get()
        return False if ctx is None else ctx.cancel_requested

    def set_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress (e.g. 3 of 10, "resizing"); readable as `job.progress`."""
        ctx = _current.get()
        if ctx is not None:
            ctx.set_progress(done, total, message)

    def __bool__(self) -> bool:
        return _current.get() is not None

    def __repr__(self) -> str:
        ctx = _current.get()
        return (
            "<current_job: none>"
            if ctx is None
            else f"<current_job {ctx.id} attempt {ctx.attempt}>"
        )


current_job = CurrentJob()
