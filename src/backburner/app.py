"""Backburner: the task registry, its settings, and the store its URL names."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

from . import defaults
from .job import Job
from .stores import Store, check_url, open_store
from .task import Task, TaskOptions

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Settings:
    """Defaults for every task of one Backburner; tasks and `options()` override them."""

    queue: str = defaults.QUEUE
    retries: int = defaults.RETRIES
    retry_backoff: float = defaults.RETRY_BACKOFF
    result_ttl: float = defaults.RESULT_TTL
    lease: float = defaults.LEASE

    def __post_init__(self) -> None:
        TaskOptions("settings", self.queue, retries=self.retries, retry_backoff=self.retry_backoff)
        if not isinstance(self.lease, (int, float)) or self.lease <= 0:
            raise ValueError(f"lease must be seconds > 0, got {self.lease!r}")
        if not isinstance(self.result_ttl, (int, float)) or self.result_ttl < 0:
            raise ValueError(f"result_ttl must be seconds >= 0, got {self.result_ttl!r}")


class Backburner:
    """A job system: register tasks with `@bb.task`, enqueue with `task.delay()`.

    `url` picks the store: sqlite:///path (default), memory://, redis://..., postgresql://...
    With no URL, $BACKBURNER_URL is used, else sqlite:///backburner.db. Connections open on
    first use, once per process. `eager=True` runs jobs inline at `delay()` (for tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        eager: bool = False,
        queue: str = defaults.QUEUE,
        retries: int = defaults.RETRIES,
        retry_backoff: float = defaults.RETRY_BACKOFF,
        result_ttl: float = defaults.RESULT_TTL,
        lease: float = defaults.LEASE,
    ) -> None:
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.eager = eager
        self.settings = Settings(queue, retries, retry_backoff, result_ttl, lease)
        self._url = url or os.environ.get("BACKBURNER_URL") or defaults.URL
        check_url(self._url)  # a wrong URL fails here, not at the first delay()
        self._store: Store | None = None
        self._job_wrappers: list[Callable[[], AbstractContextManager[Any]]] = []

    def __repr__(self) -> str:
        return f"<Backburner {self._url} tasks={len(self.tasks)}>"

    # -- the store ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        """Point at another store (e.g. a fresh one per test); the current one is closed."""
        check_url(value)
        if value != self._url and self._store is not None:
            self._store.close()
            self._store = None
        self._url = value

    @property
    def store(self) -> Store:
        """The store named by the URL, created on first use."""
        if self._store is None:
            self._store = open_store(self._url, result_ttl=self.settings.result_ttl)
        return self._store

    def close(self) -> None:
        """Close this process's store connections (reopened if used again)."""
        if self._store is not None:
            self._store.close()

    # -- tasks -------------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = defaults.PRIORITY,
        retries: int | None = None,
        timeout: float | None = None,
        retry_backoff: float | None = None,
        expose_result: bool = False,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = defaults.PRIORITY,
        retries: int | None = None,
        timeout: float | None = None,
        retry_backoff: float | None = None,
        expose_result: bool = False,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register a function as a task: `@bb.task` or `@bb.task(retries=5, queue="mail")`.

        The name defaults to "module.function"; two tasks may not share a name.
        """

        def register(func: Callable[P, R]) -> Task[P, R]:
            options = TaskOptions(
                name=name or _default_name(func),
                queue=queue,
                priority=priority,
                retries=retries,
                timeout=timeout,
                retry_backoff=retry_backoff,
                expose_result=expose_result,
            )
            if options.name in self.tasks:
                raise ValueError(
                    f"a task named {options.name!r} is already registered; "
                    "give one of them another name with @bb.task(name=...)"
                )
            task = Task(self, func, options)
            self.tasks[options.name] = task
            return task

        if fn is not None:
            if not callable(fn):
                raise TypeError(f"@bb.task decorates a function, got {fn!r}")
            return register(fn)
        return register

    # -- jobs --------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        record = self.store.get(job_id)
        return None if record is None else Job(self, record)

    def transaction(self, connection: Any) -> AbstractContextManager[None]:
        """Enqueue inside the caller's database transaction (PostgreSQL store only):
        `with bb.transaction(session): task.delay(...)`. The job exists only if the
        transaction commits. Other stores raise BackburnerError (see `Store.transaction`)."""
        return self.store.transaction(connection)

    def add_job_wrapper(self, factory: Callable[[], AbstractContextManager[Any]]) -> None:
        """Run every job inside `factory()` (e.g. a Flask app context)."""
        self._job_wrappers.append(factory)

    @contextmanager
    def job_scope(self) -> Iterator[None]:
        """Enter every job wrapper: what a worker does around each job."""
        with ExitStack() as stack:
            for factory in self._job_wrappers:
                stack.enter_context(factory())
            yield

    def init_app(self, app: Any, api_prefix: str | None = None, auth: Any = None) -> None:
        """Bind to a Flask app: BACKBURNER_* config, jobs inside `app.app_context()`, the
        `flask backburner` commands, and with `api_prefix` the JSON job API guarded by
        `auth(record, request)`. Details in `backburner.flask`."""
        from .flask import init_app  # only Flask users import Flask

        init_app(self, app, api_prefix=api_prefix, auth=auth)

    def run_worker(
        self,
        processes: int = defaults.PROCESSES,
        threads: int = defaults.THREADS,
        queues: Sequence[str] | None = None,
        burst: bool = False,
        **options: Any,
    ) -> int:
        """Run a worker pool in this process until stopped (or idle, with `burst`).
        Returns the exit code: 0 after a clean stop. Logging and sys.stdout stay as the
        caller set them, here and in the forked worker processes; the worker logs to the
        "backburner.worker" logger (`backburner worker` sends it to stderr)."""
        from .worker.supervisor import WorkerConfig, run

        config = WorkerConfig(
            processes=processes,
            threads=threads,
            queues=tuple(queues) if queues else None,
            burst=burst,
            lease=options.pop("lease", self.settings.lease),
            **options,
        )
        return int(run(self, config))


def _default_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "unknown"
    if module == "__main__":
        # a worker imports this module by its real name, so name the task the same way
        main = sys.modules["__main__"]
        spec = getattr(main, "__spec__", None)
        module = spec.name if spec is not None else Path(getattr(main, "__file__", "main")).stem
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
