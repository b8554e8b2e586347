"""Tasks and the Flask app of the dashboard's browser tests (test_dashboard_browser.py):
the worker imports this module as `dashapp` with $BACKBURNER_URL naming the test's store;
the test serves `web(bb)` in its own process, on the same store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backburner import Backburner, current_job

if TYPE_CHECKING:
    from flask import Flask, Request

PREFIX = "/backburner"
#: basic-auth user names and what the dashboard lets them do (no header: this machine)
USERS = {"admin": "all", "viewer": "read_only"}


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url, retry_backoff=0)

    @bb.task(name="charge", retries=0, expose_args=True)
    def charge(marker: str, order: str) -> str:
        """Fails the first time it runs (and leaves `marker` behind), succeeds after."""
        if not Path(marker).exists():
            Path(marker).touch()
            raise ConnectionError(f"order {order}: the payment gateway timed out")
        return f"order {order} paid"

    @bb.task(name="steps", retries=0)
    def steps(folder: str, count: int) -> int:
        """Step i prints a line and reports progress, then waits for `folder`/go-<i+1>
        (the test's go-ahead) before the next step."""
        for i in range(1, count + 1):
            print(f"step {i} of {count}")
            go = Path(folder) / f"go-{i + 1}"
            while i < count and not go.exists():
                current_job.set_progress(i, count, f"step {i}")  # written within 0.25 s
                time.sleep(0.02)
        current_job.set_progress(count, count, "done")
        return count

    @bb.task(name="parked_work", queue="parked")
    def parked_work() -> str:
        return "ran"

    @bb.task(name="quick")
    def quick() -> str:
        return "ran"

    @bb.task(name="echo", retries=0, expose_args=True)
    def echo(text: str) -> None:
        """Fails with `text` as its error: what the page must show as text."""
        raise ValueError(text)

    @bb.periodic(every=3600, name="hourly-report")
    def hourly_report() -> None:
        return None

    return bb


def access(request: Request) -> Any:
    """Basic-auth users by name (the password is not checked: a test app); no header
    means the test's own browser on this machine, which may do everything."""
    if request.authorization is None:
        return "all"
    return USERS.get(request.authorization.username or "")


def web(bb: Backburner) -> Flask:
    """The Flask app with the dashboard mounted at PREFIX."""
    from flask import Flask

    app = Flask(__name__)
    bb.init_app(app, dashboard_prefix=PREFIX, dashboard_access=access)
    return app


bb = build()
