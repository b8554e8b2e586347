"""An app for the dashboard tests: tasks that show, hide and redact their arguments, one
that fails, a schedule; `flask_app` mounts the dashboard in Flask. `backburner dashboard
tests.dashboardapp:bb` serves it on its own ($BACKBURNER_URL names the store)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from backburner import Backburner

bb = Backburner()


def register(bb: Backburner) -> None:
    """The test tasks and schedule, on `bb`."""

    @bb.task(name="mail.send", queue="mail", retries=0, expose_args=True)
    def send(to: str, subject: str) -> str:
        if "fail" in subject:
            raise ValueError(f"mailbox {to} refused: {subject}")
        return f"sent to {to}"

    @bb.task(name="billing.charge", queue="billing", retries=0)
    def charge(account: int, token: str) -> int:
        raise RuntimeError("card declined")

    def redact(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        return args, {k: ("***" if k == "token" else v) for k, v in kwargs.items()}

    @bb.task(name="api.call", expose_args=redact, retries=0)
    def call(url: str, token: str = "") -> str:
        return url

    def broken_redact(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        raise KeyError("a bug in the hook")

    @bb.task(name="broken.redact", expose_args=broken_redact, retries=0)
    def broken(token: str) -> None:
        return None

    bb.periodic(every=3600, name="hourly-mail", args=("ops@example.com", "hourly"))(send)


register(bb)


def flask_app(bb: Backburner, **options: Any) -> Flask:
    """A Flask app with the dashboard at /backburner (and `options` for init_app)."""
    app = Flask(__name__)
    bb.init_app(app, dashboard_prefix="/backburner", **options)
    return app
