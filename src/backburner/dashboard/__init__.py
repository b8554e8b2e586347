"""The dashboard: every queue and job of a Backburner's store in the browser, and the
operations on them (issue 19).

Two ways to serve it, the same pages either way:

- in a Flask app: `bb.init_app(app, dashboard_prefix="/backburner",
  dashboard_access=fn, dashboard_user=fn)`;
- for any app (Django, FastAPI, none): `backburner dashboard APP` (see
  `backburner.cli_dashboard`).

Who gets in: `dashboard_access(request)` answers "all", "read_only" or None (403);
without it, only clients on this machine (a loopback address, and no proxy header) get
"all". Read-only users see no buttons and get 403 on every POST. Each action is a POST
recorded in the store's audit log (`backburner.audit`), with the user
`dashboard_user(request)` names (else the basic-auth user, else "anonymous") and the
client's address.

Safety, for a page that shows what jobs carry: cross-site POSTs are refused (see
`backburner.dashboard.guard`), every response has a strict Content-Security-Policy (no
inline script or style: the JavaScript is static/dashboard.js), every value from a job
is escaped by Jinja, and a job's arguments are hidden unless its task says
`expose_args=True` (or a function redacting them).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask

from ..app import Backburner
from . import actions, guard, jobs, pages
from .guard import Access, Dashboard, User

__all__ = ["Access", "Dashboard", "User", "dashboard_blueprint", "standalone_app"]

NAME = "backburner_dashboard"
"""The blueprint's name: endpoints are `backburner_dashboard.<page>`."""


def dashboard_blueprint(
    backburner: Callable[[], Backburner],
    *,
    prefix: str = "",
    access: Access | None = None,
    user: User | None = None,
    read_only: bool = False,
) -> Blueprint:
    """The dashboard as a blueprint mounted at `prefix`. `backburner()` gives the
    Backburner to show (called per request: a Flask app's may change store with its
    config); `read_only` caps every user at "read_only"."""
    if prefix and (not prefix.startswith("/") or prefix == "/"):
        raise ValueError(
            f"dashboard_prefix must be a path starting with '/', like '/backburner'; got {prefix!r}"
        )
    blueprint = Blueprint(
        NAME,
        __name__,
        url_prefix=prefix.rstrip("/") or None,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    dash = Dashboard(backburner, access, user, read_only, prefix=prefix.rstrip("/"))
    guard.install(blueprint, dash)
    pages.install(blueprint)
    jobs.install(blueprint)
    actions.install(blueprint)
    return blueprint


def standalone_app(
    bb: Backburner, *, access: Access | None = None, read_only: bool = False
) -> Flask:
    """A small Flask app serving only the dashboard of `bb`, at the root: what
    `backburner dashboard APP` runs."""
    app = Flask(__name__, static_folder=None)
    app.register_blueprint(dashboard_blueprint(lambda: bb, access=access, read_only=read_only))
    return app
