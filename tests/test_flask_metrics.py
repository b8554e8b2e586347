"""The store gauges served by the Flask app at a path it chooses, behind its own auth."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from backburner import Backburner


def token_required(view: Callable[[], Any]) -> Callable[[], Any]:
    """The app's own auth, as a decorator would be."""

    @functools.wraps(view)
    def guarded() -> Any:
        if request.headers.get("Authorization") != "Bearer s3cret":
            return Response("no", 401)
        return view()

    return guarded


def make_app(url: str) -> tuple[Flask, Backburner]:
    bb = Backburner(url)

    @bb.task(name="noop", queue="emails")
    def noop() -> None: ...

    app = Flask(__name__)
    bb.init_app(app)
    app.add_url_rule("/ops/metrics", view_func=token_required(bb.metrics_view()))
    return app, bb


def test_the_gauges_are_served_at_the_apps_path_behind_its_auth(tmp_path: Path) -> None:
    app, bb = make_app(f"sqlite:///{tmp_path}/jobs.db")
    for _ in range(2):
        bb.tasks["noop"].delay()
    client = app.test_client()
    assert client.get("/ops/metrics").status_code == 401
    reply = client.get("/ops/metrics", headers={"Authorization": "Bearer s3cret"})
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain; version=")
    body = reply.get_data(as_text=True)
    assert 'backburner_queue_jobs{queue="emails",status="queued"} 2.0' in body
    assert "backburner_queue_oldest_age_seconds" in body and "backburner_workers 0.0" in body
    bb.close()


def test_a_store_that_cannot_be_reached_answers_503_without_details() -> None:
    app, _ = make_app("redis://127.0.0.1:1/0")  # nothing listens on port 1
    reply = app.test_client().get("/ops/metrics", headers={"Authorization": "Bearer s3cret"})
    assert reply.status_code == 503
    assert "127.0.0.1" not in reply.get_data(as_text=True)
