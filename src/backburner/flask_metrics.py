"""`bb.metrics_view()`: the store gauges of `backburner metrics`, served by a Flask app at
a path of the app's choosing, behind the app's own auth:

    app.add_url_rule("/metrics", view_func=login_required(bb.metrics_view()))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import metrics
from .errors import StoreUnavailable

if TYPE_CHECKING:
    from flask import Response

    from .app import Backburner

log = logging.getLogger("backburner.metrics")


def metrics_view(bb: Backburner) -> Callable[[], Response]:
    """A view function answering GET with the store gauges in Prometheus's text format;
    503 if the store cannot be reached. MissingExtra at once without prometheus-client."""
    registry = metrics.store_registry(bb)

    def backburner_metrics() -> Response:
        from flask import Response

        try:
            body, content_type = metrics.render(registry)
        except StoreUnavailable:
            # the details (host names) go to the log, not to whoever scrapes
            log.exception("metrics: the store cannot be reached")
            return Response("the job store cannot be reached\n", 503, mimetype="text/plain")
        return Response(body, content_type=content_type)

    return backburner_metrics
