"""Flask integration: `bb.init_app(app)` binds a Backburner to a Flask app.

    bb = Backburner()                    # module level: @bb.task works at import time

    @bb.task(expose_result=True)
    def resize(image_id: int) -> str: ...

    def create_app(config=None):
        app = Flask(__name__)
        app.config.update(config or {})
        bb.init_app(app, api_prefix="/jobs")   # GET /jobs/<id>: JSON, or a page for browsers
        return app

`init_app(app, api_prefix=None, auth=None, expose_errors=False, dashboard_prefix=None,
dashboard_access=None, dashboard_user=None)`:

- reads the config at init_app time: BACKBURNER_URL (the store; a relative sqlite:///
  path is a file in the app's instance folder, as in Flask-SQLAlchemy; when no URL is
  given anywhere, not to Backburner(), in $BACKBURNER_URL or in the config, a TESTING app
  uses memory://, so tests never write into the development store),
  BACKBURNER_QUEUE, BACKBURNER_RETRIES, BACKBURNER_RETRY_BACKOFF (task defaults),
  BACKBURNER_RESULT_TTL, BACKBURNER_LEASE, BACKBURNER_CANCEL_GRACE, BACKBURNER_LOG_LINES,
  BACKBURNER_LOG_BYTES (what a worker keeps of each attempt's output), BACKBURNER_API_PREFIX
  and BACKBURNER_DASHBOARD_PREFIX (if `api_prefix` / `dashboard_prefix` is None);
- reads again at each `delay()`, from the app in use (the active app context's, else the
  app initialised last), so the Flask testing fixture's `app.config.update(TESTING=True)`
  after `create_app()` counts: BACKBURNER_EAGER (store each job and run it at `delay()`,
  see `backburner.testing.eager`; default: on when `app.testing`), BACKBURNER_EAGER_RAISE
  (a failed eager job re-raises its exception at `delay()`), TESTING (the memory://
  default above), and BACKBURNER_URL when it was changed after init_app;
- keeps its state in `app.extensions["backburner"]` (a FlaskState) and raises
  BackburnerError if the same app is initialised twice;
- runs every job (worker, `testing.drain()`, eager mode) inside a fresh `app.app_context()`,
  so `current_app`, `app.logger` and Flask-SQLAlchemy work in tasks;
- adds `flask backburner worker|status|jobs|show|retry|cancel|purge|logs|pause|resume`;
- with `api_prefix`, serves `GET <api_prefix>/<job_id>`: JSON (see `job_json`) to
  `Accept: application/json` and to clients without a preference, a small page with a live
  progress bar to browsers; unknown id -> 404, store down -> 503, both as JSON.
  `auth(record, request) -> bool` decides who may see a job: a falsy answer gets the 404
  of an unknown id, so existence is not told. Without `auth`, the first request logs a
  warning that anyone with an id sees the job (`auth=lambda record, request: True` says
  that is meant), and errors show only their exception type unless `expose_errors` (or
  the task's `expose_error=True`); see `backburner.flask_jobs`. Under the same `auth`,
  `GET <api_prefix>/<job_id>/logs` answers the job's log and `.../events` streams its
  status, progress and log lines as Server-Sent Events, which the page listens to (see
  `backburner.flask_events`; BACKBURNER_STREAM_SECONDS caps one stream, default 25).

With `dashboard_prefix` ("/backburner"), serves the dashboard there (see
`backburner.dashboard`): `dashboard_access(request)` answers "all", "read_only" or None
(403), and without it only clients on this machine get in; `dashboard_user(request)`
names who acts, for the audit log.

Helpers for your own views: `job_url(job_id)` (the status URL), `job_json(bb, record)`
(what the API answers), `wants_html()` (does this request come from a browser?).

One Backburner, several apps (app factory in tests, several apps in one process): the task
registry, the store and the settings belong to the Backburner, so every app initialised
with it shares them. The store URL, the other settings and eagerness are those of the
latest `init_app` (each computed from the
Backburner's own constructor values plus that app's config, so nothing leaks from an
earlier app). A job runs in the context of the app whose context is active where it runs,
else the app a `flask backburner` command was started with, else the app initialised last.
Give each app its own Backburner when they need separate stores.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast, get_type_hints

import click
from flask import Flask, Request, current_app, has_app_context, url_for
from flask.ctx import AppContext

from .app import Backburner, Settings
from .cli import command_group
from .errors import BackburnerError
from .flask_jobs import job_api, job_json, wants_html
from .job import JobRecord
from .urls import resolve_sqlite

__all__ = ["Auth", "FlaskState", "bound_app", "init_app", "job_json", "job_url", "wants_html"]

Auth = Callable[[JobRecord, Request], Any]
"""`auth(record, request)`: truthy lets the request see the job; falsy answers 404, as
for an unknown id."""

# BACKBURNER_<FIELD> -> (field, type) for every Settings field: Settings alone says which
# settings exist, their types and their defaults, so a new one is configurable from here too.
_SETTINGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    f"BACKBURNER_{name.upper()}": (name, kind) for name, kind in get_type_hints(Settings).items()
}


class _AppContexts:
    """The job wrapper of one Backburner: a fresh app context of the right app per job."""

    def __init__(self, bb: Backburner) -> None:
        self.app: Flask | None = None
        # what the Backburner was constructed with: each init_app starts from these
        self.base_settings = dataclasses.replace(bb.settings)
        self.base_eager = bb.eager
        self.base_eager_raise = bb.eager_raise
        self.base_url = bb.url
        self.implicit_url = bb.url_is_default  # no URL given anywhere: TESTING -> memory://

    def __call__(self) -> AppContext:
        if has_app_context():
            state = current_app.extensions.get("backburner")
            if isinstance(state, FlaskState) and state.contexts is self:
                return current_app.app_context()
        if self.app is None:  # unreachable: set by init_app before it registers this
            raise BackburnerError("no Flask app is bound to this Backburner")
        return self.app.app_context()

    def app_in_use(self) -> Flask | None:
        """The active app, if initialised with this Backburner; else the latest one."""
        if has_app_context():
            app = cast(Flask, cast(Any, current_app)._get_current_object())
            state = app.extensions.get("backburner")
            if isinstance(state, FlaskState) and state.contexts is self:
                return app
        return self.app

    def eager_mode(self, bb: Backburner) -> tuple[bool, bool] | None:
        """What the app in use says at this moment (see Backburner.eager_mode); on the
        way, point `bb` at the store that app's config names now."""
        app = self.app_in_use()
        if app is None:
            return None
        _follow_url(bb, app)
        return _eager_config(app.config, app.testing, self)


# One binding per Backburner, however many apps share it; weak, so it goes with the
# Backburner. Registering a wrapper per init_app would nest one app context per app ever
# created (one per test with an app factory).
_bindings: weakref.WeakKeyDictionary[Backburner, _AppContexts] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class FlaskState:
    """What `init_app` keeps in `app.extensions["backburner"]`."""

    bb: Backburner
    contexts: _AppContexts
    api_prefix: str | None
    auth: Auth | None
    # the store URL init_app chose (a config URL unlike it was set later); out of repr,
    # which error messages show: it may hold a password
    url: str = field(default="", repr=False)
    implicit_url: bool = False  # no URL was given anywhere (see `_AppContexts`)
    expose_errors: bool = False  # the job API shows every error's first line


def _serving(app: Flask) -> FlaskState:
    """The state of `app` for a job API request, its Backburner pointed at the store the
    app's config names now."""
    state = _state(app)
    _follow_url(state.bb, app)
    return state


def init_app(
    bb: Backburner,
    app: Flask,
    api_prefix: str | None = None,
    auth: Auth | None = None,
    expose_errors: bool = False,
    dashboard_prefix: str | None = None,
    dashboard_access: Callable[[Request], Any] | None = None,
    dashboard_user: Callable[[Request], Any] | None = None,
) -> FlaskState:
    """Bind `bb` to `app` (what `bb.init_app(app, ...)` calls); see the module docstring."""
    if "backburner" in app.extensions:
        raise BackburnerError(
            f"Flask app {app.name!r} is already initialised with backburner "
            f"({app.extensions['backburner']!r}); call init_app once per app"
        )
    prefix = api_prefix if api_prefix is not None else app.config.get("BACKBURNER_API_PREFIX")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith("/")):
        raise ValueError(
            f"api_prefix must be a path starting with '/', like '/jobs'; got {prefix!r}"
        )
    contexts = _bindings.get(bb)
    if contexts is None:
        contexts = _bindings[bb] = _AppContexts(bb)
        bb.add_job_wrapper(contexts)
        bb._eager_source = lambda: contexts.eager_mode(bb)
    implicit = _configure(bb, contexts, app)
    state = FlaskState(bb, contexts, prefix, auth, bb.url, implicit, expose_errors)
    app.extensions["backburner"] = state
    contexts.app = app
    app.cli.add_command(
        command_group(
            "backburner",
            _resolver(app, state),
            help="Background jobs: run workers and operate on the job store.",
        )
    )
    if prefix:
        app.register_blueprint(job_api(prefix, _serving))
    if dashboard_prefix is None:
        dashboard_prefix = app.config.get("BACKBURNER_DASHBOARD_PREFIX")
    if dashboard_prefix is not None:
        from .dashboard import dashboard_blueprint  # its templates load only when mounted

        blueprint = dashboard_blueprint(
            lambda: _serving(current_app).bb,
            prefix=dashboard_prefix,
            access=dashboard_access,
            user=dashboard_user,
        )
        app.register_blueprint(blueprint)
    return state


def _configure(bb: Backburner, contexts: _AppContexts, app: Flask) -> bool:
    """Apply BACKBURNER_* config; checks everything before changing anything. True when
    no store URL was given anywhere (the default store, or memory:// for a TESTING app)."""
    config = app.config
    changes = {}
    for key, (name, kind) in _SETTINGS.items():
        value = config.get(key, getattr(contexts.base_settings, name))
        try:
            changes[name] = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}={value!r}: expected {kind.__name__}") from None
    try:
        settings = dataclasses.replace(contexts.base_settings, **changes)  # validates them
    except ValueError as exc:
        raise ValueError(f"Flask app {app.name!r}, BACKBURNER_* config: {exc}") from None
    eager, eager_raise = _eager_config(config, app.testing, contexts)
    url = config.get("BACKBURNER_URL")
    implicit = not url and contexts.implicit_url
    if implicit:
        url = _TESTING_URL if app.testing else contexts.base_url
    if url:
        bb.url = _in_instance_folder(url, app)  # a different URL closes the store in use
        bb.url_source = "Flask config"
    config["BACKBURNER_URL"] = bb.url
    bb.settings = settings
    bb.eager, bb.eager_raise = eager, eager_raise
    return implicit


def _in_instance_folder(url: str, app: Flask) -> str:
    """A relative sqlite:/// path means a file in the app's instance folder (created if
    needed), as Flask-SQLAlchemy does: the web app and a worker started from another folder
    then open the same file."""
    resolved = resolve_sqlite(url, app.instance_path)
    if resolved != url:
        os.makedirs(app.instance_path, exist_ok=True)
    return resolved


def bound_app(bb: Backburner) -> Flask | None:
    """The Flask app `bb` runs its jobs in (the latest `init_app`), or None if no app was
    initialised with it in this process."""
    contexts = _bindings.get(bb)
    return None if contexts is None else contexts.app


# Where a TESTING app's jobs go when no store URL is given anywhere: tests must not write
# into the development store, and a memory store starts empty for each test's Backburner.
_TESTING_URL = "memory://"


def _eager_config(config: Any, testing: bool, contexts: _AppContexts) -> tuple[bool, bool]:
    """(eager, raise_errors) as BACKBURNER_EAGER, TESTING and BACKBURNER_EAGER_RAISE say."""
    eager = config.get("BACKBURNER_EAGER")
    raise_errors = config.get("BACKBURNER_EAGER_RAISE")
    return (
        (testing or contexts.base_eager) if eager is None else _flag("BACKBURNER_EAGER", eager),
        contexts.base_eager_raise
        if raise_errors is None
        else _flag("BACKBURNER_EAGER_RAISE", raise_errors),
    )


def _follow_url(bb: Backburner, app: Flask) -> None:
    """Point `bb` at the store `app`'s config names now: a BACKBURNER_URL set after
    init_app (in a test fixture, say) counts, and so does TESTING turned on after
    init_app when no URL was given anywhere (memory://)."""
    state = _state(app)
    url = app.config.get("BACKBURNER_URL")
    if url and url != state.url:
        wanted = url
    elif app.testing and state.implicit_url:
        wanted = _TESTING_URL
    else:
        return
    if bb.url != wanted:
        bb.url = wanted


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{key}={value!r}: expected true or false")
    return bool(value)


def _state(app: Flask) -> FlaskState:
    state = app.extensions.get("backburner")
    if not isinstance(state, FlaskState):
        raise BackburnerError(
            f"Flask app {app.name!r} has no backburner: call bb.init_app(app) in create_app"
        )
    return state


def _resolver(app: Flask, state: FlaskState) -> Callable[[], Backburner]:
    """For `flask backburner ...`: the app's Backburner, with the app's context active
    (FlaskGroup pushes one; a bare `app.cli` in tests does not)."""

    def resolve() -> Backburner:
        state.contexts.app = app  # a worker started from this app runs jobs in its context
        active = cast(Any, current_app)._get_current_object() if has_app_context() else None
        if active is not app:
            click.get_current_context().with_resource(app.app_context())
        return state.bb

    return resolve


# -- the job API (served by flask_jobs) ------------------------------------------------
def job_url(job_id: str, **values: Any) -> str:
    """The status URL of a job (`url_for` options such as `_external=True` pass through).
    Needs an app initialised with `api_prefix`."""
    if _state(current_app).api_prefix is None:
        raise BackburnerError("job_url() needs the job API: bb.init_app(app, api_prefix='/jobs')")
    return url_for("backburner.job", job_id=job_id, **values)
