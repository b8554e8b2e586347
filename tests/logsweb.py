"""A Flask app serving the job API for logsapp's tasks, for the event stream tests under
gunicorn (test_logs_events.py) and the browser test (test_logs_browser.py). The store is
$BACKBURNER_URL; BACKBURNER_STREAM_SECONDS comes from $STREAM_SECONDS when set."""

from __future__ import annotations

import os

from flask import Flask

from logsapp import bb  # type: ignore[import-not-found]  # on gunicorn's path


def create_app() -> Flask:
    app = Flask(__name__)
    if "STREAM_SECONDS" in os.environ:
        app.config["BACKBURNER_STREAM_SECONDS"] = float(os.environ["STREAM_SECONDS"])
    bb.init_app(app, api_prefix="/jobs", auth=lambda record, request: record.task != "nothing")
    return app


app = create_app()
