"""A small shop on backburner, in the app-factory layout Flask's tutorial uses.

    shop/extensions.py   bb = Backburner(): module level, so @bb.task works at import
    shop/tasks.py        the background tasks
    shop/views.py        a blueprint whose route enqueues a job and answers its status URL
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .extensions import bb


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app. The job store is $BACKBURNER_URL, else a SQLite file in the instance folder
    (a relative sqlite:/// path is resolved there, so every process finds the same file)."""
    app = Flask(__name__)
    app.config.from_mapping(BACKBURNER_URL=os.environ.get("BACKBURNER_URL", "sqlite:///shop.db"))
    app.config.update(test_config or {})
    bb.init_app(app, api_prefix="/jobs")  # GET /jobs/<id>: the job's status

    from . import views  # imports the tasks too: web app and worker know the same tasks

    app.register_blueprint(views.orders)
    return app
