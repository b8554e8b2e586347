"""Backburner: the task registry, its settings, and the store its URL names."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar, overload

from . import defaults, flows, limits
from .context import _current
from .flows import Call, Group
from .job import Job
from .periodic import CATCHUP, PeriodicDecorator, Schedule, define
from .stores import Store, check_url, open_store
from .stores.forks import on_fork_in_child
from .task import Redact, Task, TaskOptions
from .throttle import KeyFn
from .urls import redact

P = ParamSpec("P")
R = TypeVar("R")

# the eager jobs each transaction() block holds, per Backburner, in this context
_eager_held: ContextVar[Mapping[int, list[Callable[[], object]]]] = ContextVar(
    "backburner_eager_transaction", default=MappingProxyType({})
)
_NO_SCOPE = nullcontext()  # job_scope() with no wrappers: stateless, so shared


@dataclass
class Settings:
    """Defaults for every task of one Backburner; tasks and `options()` override them."""

    queue: str = defaults.QUEUE
    retries: int = defaults.RETRIES
    retry_backoff: float = defaults.RETRY_BACKOFF
    result_ttl: float = defaults.RESULT_TTL
    lease: float = defaults.LEASE
    cancel_grace: float = defaults.CANCEL_GRACE  # a forced cancel's, unless it names one
    log_lines: int = defaults.LOG_LINES
    log_bytes: int = defaults.LOG_BYTES

    def __post_init__(self) -> None:
        TaskOptions(
            "settings",
            self.queue,
            retries=self.retries,
            retry_backoff=self.retry_backoff,
            log_lines=self.log_lines,
            log_bytes=self.log_bytes,
        )
        limits.check_seconds(self.lease, "lease", positive=True)
        limits.check_seconds(self.cancel_grace, "cancel_grace")
        limits.check_seconds(self.result_ttl, "result_ttl")


class Backburner:
    """A job system: register tasks with `@bb.task`, enqueue with `task.delay()`.

    `url` picks the store: sqlite:///path (default), memory://, redis://..., postgresql://...
    With no URL, $BACKBURNER_URL is used, else sqlite:///backburner.db. Connections open on
    first use, once per process. `eager=True` runs each job at `delay()`, in the calling
    thread, and stores it too (for tests; see `backburner.testing.eager`); with
    `eager_raise=True` a job that fails re-raises its task's exception at `delay()`.

    `cancel_grace`: seconds a job cancelled by force gets to return before its process is
    stopped (see `Job.cancel`).
    `log_lines` and `log_bytes` cap what a worker keeps of each attempt's output (print,
    stderr, logging; see `Job.logs`): 0 for either turns capture off; tasks may override.

    `url_source` says where the URL came from: "argument", "$BACKBURNER_URL", "default"
    (neither: the implicit sqlite:///backburner.db), "assigned" (`bb.url = ...`) or
    "Flask config" (`init_app` with BACKBURNER_URL). The `backburner` command uses it to
    refuse a worker that would silently use the default store instead of the app's.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        eager: bool = False,
        eager_raise: bool = False,
        queue: str = defaults.QUEUE,
        retries: int = defaults.RETRIES,
        retry_backoff: float = defaults.RETRY_BACKOFF,
        result_ttl: float = defaults.RESULT_TTL,
        lease: float = defaults.LEASE,
        cancel_grace: float = defaults.CANCEL_GRACE,
        log_lines: int = defaults.LOG_LINES,
        log_bytes: int = defaults.LOG_BYTES,
    ) -> None:
        self.tasks: dict[str, Task[Any, Any]] = {}
        #: every schedule declared with `periodic`, by name
        self.schedules: dict[str, Schedule] = {}
        self.eager = eager
        self.eager_raise = eager_raise
        # an eager() block, then the Flask app in use (its config read at each delay()),
        # then the two attributes above decide whether a job runs eagerly
        self._eager_override: tuple[bool, bool] | None = None
        self._eager_source: Callable[[], tuple[bool, bool] | None] | None = None
        self.settings = Settings(
            queue,
            retries,
            retry_backoff,
            result_ttl,
            lease,
            cancel_grace=cancel_grace,
            log_lines=log_lines,
            log_bytes=log_bytes,
        )
        from_env = os.environ.get("BACKBURNER_URL")
        self._url = url or from_env or defaults.URL
        self.url_source = "argument" if url else "$BACKBURNER_URL" if from_env else "default"
        if self.url_source != "default":
            check_url(self._url)  # a wrong URL fails here, not at the first delay()
        # the implicit default is often replaced (init_app, bb.url = ...) before any use:
        # its folder is checked when the store opens, so an unwritable working folder
        # does not break `bb = Backburner()` at import
        self._store: Store | None = None
        self._opening = threading.Lock()  # threads using a new app at once open one store
        on_fork_in_child(self, Backburner._after_fork)
        self._job_wrappers: list[Callable[[], AbstractContextManager[Any]]] = []

    def __repr__(self) -> str:
        return f"<Backburner {redact(self._url)} tasks={len(self.tasks)}>"

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
        self.url_source = "assigned"

    @property
    def url_is_default(self) -> bool:
        """True while the store is the built-in default because no URL was given anywhere
        (argument, $BACKBURNER_URL, Flask config, assignment): a TESTING app then uses
        memory://, and the `backburner` command looks for the app that configures it."""
        return self.url_source == "default"

    @property
    def store(self) -> Store:
        """The store named by the URL, created on first use (once, whichever threads use
        it first at once: a threaded server's first requests)."""
        store = self._store
        if store is None:
            with self._opening:
                if self._store is None:
                    self._store = open_store(self._url, result_ttl=self.settings.result_ttl)
                store = self._store
        return store

    def _after_fork(self) -> None:
        self._opening = threading.Lock()  # a parent thread may have held it at fork()

    def close(self) -> None:
        """Close this process's store connections (reopened if used again)."""
        if self._store is not None:
            self._store.close()

    def eager_mode(self) -> tuple[bool, bool]:
        """(eager, raise_errors) for a job enqueued now: an `eager()` block decides, else
        the Flask app in use (its config at this moment, so TESTING set after
        `create_app()` counts), else `self.eager` and `self.eager_raise`."""
        if self._eager_override is not None:
            return self._eager_override
        if self._eager_source is not None:
            found = self._eager_source()
            if found is not None:
                return found
        return self.eager, self.eager_raise

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
        expose_error: bool = False,
        expose_args: bool | Redact = False,
        log_lines: int | None = None,
        log_bytes: int | None = None,
        concurrency: int | None = None,
        concurrency_key: KeyFn | None = None,
        rate: str | None = None,
        rate_key: KeyFn | None = None,
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
        expose_error: bool = False,
        expose_args: bool | Redact = False,
        log_lines: int | None = None,
        log_bytes: int | None = None,
        concurrency: int | None = None,
        concurrency_key: KeyFn | None = None,
        rate: str | None = None,
        rate_key: KeyFn | None = None,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register a function as a task: `@bb.task` or `@bb.task(retries=5, queue="mail")`.

        The name defaults to "module.function"; two tasks may not share a name. `async def`
        functions run to completion in the worker, on an event loop per worker thread.

        A worker imports your app and looks tasks up by name, so what it could never find
        that way is refused here (TypeError, saying what to do): a lambda without `name=`
        (every lambda is named "<lambda>"), and any function registered while a request
        or a job is being handled, outside an import. A function defined inside another
        is accepted otherwise: registered during an import (module-level code, or a
        function it calls) or by an app factory, a worker loading the app registers it
        too; registered in a test, its jobs run in that process (drain(), eager mode).

        The Flask job API shows a job's result only with `expose_result=True`, and the first
        line of its error (not only the exception type) with `expose_error=True`.
        The dashboard hides a job's arguments unless `expose_args=True`; a function
        `expose_args=fn(args, kwargs) -> (args, kwargs)` shows what it returns instead
        (redacting secrets), from the stored arguments as plain JSON values.

        `log_lines` / `log_bytes` cap the output a worker keeps of each attempt (None: the
        Backburner's; 0 turns capture off for this task). They are read by the worker from
        its own registry, so `options()` cannot change them per job.
        Flow control, enforced when workers claim (a job over a limit waits, queued, its
        attempts untouched): `concurrency=N` runs at most N of its jobs at once across
        every worker; `concurrency_key=fn` (called with the job's arguments at `delay()`,
        returning a str) makes that N per key, shared by every task returning that key.
        `rate="100/m"` (per "s", "m" or "h") starts at most that many in any sliding
        window of that length; `rate_key=fn` makes it per key.
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
                expose_error=expose_error,
                expose_args=expose_args,
                log_lines=log_lines,
                log_bytes=log_bytes,
                concurrency=concurrency,
                concurrency_key=concurrency_key,
                rate=rate,
                rate_key=rate_key,
            )
            _check_findable(func, named=name is not None)
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

    def periodic(
        self,
        cron: str | None = None,
        /,
        *,
        every: float | dt.timedelta | None = None,
        tz: str | None = None,
        misfire: str = "latest",
        catchup: float | dt.timedelta = CATCHUP,
        overlap: bool = True,
        name: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **task_options: Any,
    ) -> PeriodicDecorator:
        """Run a task on a schedule: `@bb.periodic("*/15 * * * *", tz="Europe/Paris")` or
        `@bb.periodic(every=30)` (seconds or timedelta) on a function, which becomes a task
        (`task_options` are those of `@bb.task`), or `bb.periodic(...)(existing_task)`
        (`task_options` are then those of `task.options()`, for this schedule's jobs).

        Workers store one job per tick, however many run (see `backburner worker
        --no-periodic`), due at the tick, with `args` and `kwargs`. `cron`: 5 fields, or 6
        with seconds first, names (mon, jan) and @hourly-style aliases, read in the IANA
        zone `tz` (default UTC) with daylight saving time handled as Debian's cron does.
        `misfire` says what ticks missed while no worker ran become: "latest" (the latest
        one within `catchup` seconds runs once), "skip" (none), or "all" (each within
        `catchup`, oldest first, at most 100). `overlap=False` skips a tick while the
        schedule's previous job is still queued or running. `name` names the schedule
        (default: the task's name; a second schedule of one task needs one). Bad input
        raises ValueError (TypeError for arguments that do not fit the function) here.
        """

        def decorate(target: Any) -> Any:
            if not callable(target):
                raise TypeError(f"@bb.periodic decorates a function or a Task, got {target!r}")
            return define(
                self,
                target,
                cron,
                every=every,
                tz=tz,
                misfire=misfire,
                catchup=catchup,
                overlap=overlap,
                name=name,
                args=args,
                kwargs=kwargs,
                task_options=task_options,
            )

        return decorate

    # -- jobs --------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        record = self.store.get(job_id)
        return None if record is None else Job(self, record)

    def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Store one job per `task.s(...)` call, all in one transaction (one script on
        Redis) or none: a failure midway stores nothing. `unique_key` applies per job (a
        duplicate's slot holds the live job). Returns the jobs in order."""
        return flows.enqueue_many(self, calls)

    def chain(self, *calls: Call) -> list[Job]:
        """Store one job per call, each WAITING until the one before has succeeded; one
        that fails for good or is cancelled cancels the rest. All stored or none."""
        return flows.chain(self, calls)

    def group(self, calls: Iterable[Call], then: Call | None = None) -> Group:
        """Store one job per call and, with `then`, a job that runs once all of them have
        succeeded, given their results (a list, in the calls' order) as its first
        argument: `bb.group([part.s(1), part.s(2)], then=merge.s())`. All stored or none."""
        return flows.group(self, calls, then)

    def explain(self, job_id: str) -> str:
        """Why the job is or is not running now, in a sentence or two, from what the store
        knows: not found; finished (how); running (on which worker, since when, its lease);
        waiting (on which dependencies); scheduled (until when); or, due, that no live
        worker serves its queue or knows its task, or how many jobs are ahead of it.
        `backburner.explain.explain()` gives the facts behind it too (`backburner explain
        APP JOB --json`)."""
        from .explain import explain

        return explain(self, job_id).sentence

    # -- queues ------------------------------------------------------------------------
    def pause(self, queue: str) -> None:
        """Pause `queue`: it keeps accepting jobs, workers claim none of them until
        `resume(queue)`, jobs already running finish. Kept in the store, so it holds for
        every worker and across restarts."""
        self.store.pause(limits.check_text(queue, "queue", limits.MAX_NAME_BYTES))

    def resume(self, queue: str) -> None:
        """Let workers claim from `queue` again (waking idle ones now)."""
        self.store.resume(limits.check_text(queue, "queue", limits.MAX_NAME_BYTES))

    def paused(self) -> set[str]:
        """The names of the paused queues."""
        return self.store.paused_queues()

    def transaction(self, connection: Any) -> AbstractContextManager[None]:
        """Enqueue inside the caller's database transaction: `with bb.transaction(session):
        task.delay(...)`; the job exists only if the transaction commits. PostgreSQL, and
        SQLite when `connection` is on the store's own file, write on `connection`;
        memory:// stores the block's jobs when it exits without an exception; Redis
        refuses (see `Store.transaction`). In eager mode the block's jobs are held, then
        stored and run when it exits without an exception (before your commit)."""
        if not self.eager_mode()[0]:
            return self.store.transaction(connection)  # a wrong connection fails here
        return self._eager_transaction()

    @contextmanager
    def _eager_transaction(self) -> Iterator[None]:
        held: list[Callable[[], object]] = []
        token = _eager_held.set(MappingProxyType({**_eager_held.get(), id(self): held}))
        try:
            yield
        finally:
            _eager_held.reset(token)
        # every job of a block that ended well is stored, even after one that raises
        failure: BaseException | None = None
        for submit in held:
            try:
                submit()
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def hold_eager(self, submit: Callable[[], object]) -> bool:
        """Inside an eager `transaction()` block, keep `submit` for the end of the block
        and return True; elsewhere return False."""
        held = _eager_held.get().get(id(self))
        if held is None:
            return False
        held.append(submit)
        return True

    def add_job_wrapper(self, factory: Callable[[], AbstractContextManager[Any]]) -> None:
        """Run every job inside `factory()` (e.g. a Flask app context)."""
        self._job_wrappers.append(factory)

    def job_scope(self) -> AbstractContextManager[None]:
        """Enter every job wrapper: what a worker does around each job."""
        if not self._job_wrappers:  # no Flask app, say: nothing to enter (3 us a job)
            return _NO_SCOPE
        return self._wrapped_scope()

    @contextmanager
    def _wrapped_scope(self) -> Iterator[None]:
        with ExitStack() as stack:
            for factory in self._job_wrappers:
                stack.enter_context(factory())
            yield

    def init_app(
        self,
        app: Any,
        api_prefix: str | None = None,
        auth: Any = None,
        expose_errors: bool = False,
        dashboard_prefix: str | None = None,
        dashboard_access: Any = None,
        dashboard_user: Any = None,
    ) -> None:
        """Bind to a Flask app: BACKBURNER_* config, jobs inside `app.app_context()`, the
        `flask backburner` commands, and with `api_prefix` the JSON job API guarded by
        `auth(record, request)` (`expose_errors`: it shows every error's first line).
        With `dashboard_prefix`, the dashboard, for whom `dashboard_access(request)`
        lets in ("all", "read_only" or None; default: this machine only), actions
        recorded as done by `dashboard_user(request)`. Details in `backburner.flask`."""
        from .flask import init_app  # only Flask users import Flask

        init_app(
            self,
            app,
            api_prefix=api_prefix,
            auth=auth,
            expose_errors=expose_errors,
            dashboard_prefix=dashboard_prefix,
            dashboard_access=dashboard_access,
            dashboard_user=dashboard_user,
        )

    def metrics_view(self) -> Callable[[], Any]:
        """A Flask view serving the store gauges (queue depth, oldest job's age, live
        workers) in Prometheus's text format, for a route of your own behind your own
        auth: `app.add_url_rule("/metrics", view_func=login_required(bb.metrics_view()))`.
        Needs the metrics extra; see `backburner.metrics`."""
        from .flask_metrics import metrics_view

        return metrics_view(self)

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
        caller set them, here and in the forked worker processes (where a job's output is
        also copied to its log: see `Job.logs`); the worker logs to the
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


def _check_findable(fn: Callable[..., Any], named: bool) -> None:
    """Refuse a task no worker loading the app could ever find by name (see `Backburner.task`)."""
    if getattr(fn, "__name__", None) == "<lambda>" and not named:
        raise TypeError(
            "@bb.task got a lambda: every lambda is named '<lambda>', so a worker could not "
            "tell it from another; define it with def at module level (or pass name=...)"
        )
    serving = _serving()
    if serving is None or _importing():
        return
    qualname = getattr(fn, "__qualname__", repr(fn))
    raise TypeError(
        f"@bb.task: {getattr(fn, '__module__', '?')}.{qualname} is registered while {serving} "
        "is being handled, which a worker loading your app never does, so it could never "
        "find this task; define and register it at module level, in a module your app "
        "imports"
    )


def _serving() -> str | None:
    """What this thread is handling now, if it is a job or a Flask request: code that runs
    only then is never run by a worker that imports the app."""
    if _current.get() is not None:
        return "a job"
    flask = sys.modules.get("flask")  # core modules never import Flask; it may be loaded
    if flask is not None and flask.has_request_context():
        return "a request"
    return None


def _importing() -> bool:
    """Whether this call comes from a module's top-level code while that module is being
    imported: a worker importing it then runs the same code, registering the same tasks.
    (importlib marks a module's spec `_initializing` while it executes the module.)"""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            module = sys.modules.get(frame.f_globals.get("__name__", ""))
            if getattr(getattr(module, "__spec__", None), "_initializing", False):
                return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _default_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "unknown"
    if module == "__main__":
        # a worker imports this module by its real name, so name the task the same way
        main = sys.modules["__main__"]
        spec = getattr(main, "__spec__", None)
        module = spec.name if spec is not None else Path(getattr(main, "__file__", "main")).stem
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
