"""One error hierarchy: everything backburner raises to users derives from BackburnerError.

Wrong arguments raise the builtin TypeError / ValueError instead, as Python code expects.
Each class's docstring is its default message.
"""

from __future__ import annotations

from .limits import is_finite


class BackburnerError(Exception):
    """A backburner operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class StoreUnavailable(BackburnerError):
    """The job store could not be reached; check that its server is running and the URL is right."""


class MissingExtra(BackburnerError, ImportError):
    """An optional dependency is missing; install the extra named in this message."""


class SchemaError(BackburnerError):
    """The store's schema is not the version this backburner expects."""


class UnknownTask(BackburnerError):
    """No task with this name is registered with this Backburner."""


class JobFailed(BackburnerError):
    """The job ended without a result: it failed or was cancelled.

    `job` is the Job handle; `job.error` holds the last error and its traceback.
    """

    def __init__(self, job: object, message: str | None = None) -> None:
        super().__init__(message)
        self.job = job


class JobTimeout(JobFailed):
    """The job failed because its last attempt ran longer than its task's `timeout` and
    its worker process was stopped. `job.wait()` raises it (a JobFailed); the attempt's
    error, in `job.error`, starts with "JobTimeout:"."""


class Retry(Exception):
    """Raised inside a task to run it again later; counts as an attempt.

    `delay` is seconds (or None for the task's backoff policy).
    """

    def __init__(self, delay: float | None = None, message: str | None = None) -> None:
        if delay is not None and not (
            isinstance(delay, (int, float)) and is_finite(delay) and delay >= 0
        ):
            raise ValueError(
                f"Retry(delay={delay!r}): delay must be a finite number of seconds >= 0, "
                "or None for the task's backoff"
            )
        super().__init__(message or "retry requested")
        self.delay = delay
