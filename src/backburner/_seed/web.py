"""The article's routes on backburner, plus an index page and the job status API.

Every job route answers 202 with JSON `{"job_id", "status_url", "started": true, ...}`;
`status_url` answers JSON to API clients and a live progress page to browsers.

    /                       browsers: the index page; other clients: the article's
                            `/` (a 5-second threaded_task)
    /<int:duration>         threaded_task (the article's thread per request)
    /uwsgi_thread[/<int:duration>]  uwsgi_task (the article's uWSGI @thread)
    /uwsgi_spool[/<int:duration>]   spool_task (the article's spooler); `?delay=3` runs it
                            3 s later (the article's `at = time.time() + 3` variant),
                            `?at=<unix timestamp>` at a given time
    /jobs/<job_id>          the job's status (backburner's job API)

A duration over MAX_DURATION seconds, or a `delay`/`at` that is not a finite number,
answers 400 and starts nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, render_template_string, request

from backburner.flask import job_url, wants_html
from backburner.job import Job

from .tasks import bb, spool_task, threaded_task, uwsgi_task

DEFAULT_DURATION = 5  # the article's default
# A GET anyone can send starts a job: without a bound, /99999999999999999999 would hold a
# worker for good. Apps copied from this one should bound what a request may start too.
MAX_DURATION = 60
routes = Blueprint("seed", __name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The seed app; `config` overrides Flask and BACKBURNER_* settings (e.g. in tests)."""
    app = Flask(__name__)
    app.config.update(config or {})
    bb.init_app(app, api_prefix="/jobs")
    app.register_blueprint(routes)
    return app


def _started(job: Job) -> Response:
    response = jsonify(
        job_id=job.id,
        status_url=job_url(job.id),
        started=True,
        task=job.task,
        status=job.status.value,
    )
    response.status_code = 202  # accepted: the work happens later, at status_url
    response.headers["Location"] = job_url(job.id)
    return response


def _too_long(duration: int) -> Response | None:
    if duration <= MAX_DURATION:
        return None
    return _bad_request(
        f"duration {duration} is too long: this demo runs jobs of at most {MAX_DURATION} "
        "seconds; ask for a shorter one"
    )


def _bad_request(message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = 400
    return response


@routes.get("/")
def index() -> Response | str:
    """Browsers get the index page; other clients start the article's default job."""
    if wants_html():
        return render_template_string(_INDEX, default=DEFAULT_DURATION, max=MAX_DURATION)
    return _started(threaded_task.delay(DEFAULT_DURATION))


@routes.get("/<int:duration>")
def thread(duration: int) -> Response:
    return _too_long(duration) or _started(threaded_task.delay(duration))


@routes.get("/uwsgi_thread", defaults={"duration": DEFAULT_DURATION})
@routes.get("/uwsgi_thread/<int:duration>")
def uwsgi_thread(duration: int) -> Response:
    return _too_long(duration) or _started(uwsgi_task.delay(duration))


@routes.get("/uwsgi_spool", defaults={"duration": DEFAULT_DURATION})
@routes.get("/uwsgi_spool/<int:duration>")
def uwsgi_spool(duration: int) -> Response:
    """`?delay=SECONDS` or `?at=UNIX_TIMESTAMP` schedules the job instead of queueing it."""
    refused = _too_long(duration)
    if refused is not None:
        return refused
    when: dict[str, float] = {}
    for name in ("delay", "at"):
        if name in request.args:
            try:
                when[name] = float(request.args[name])
            except ValueError:
                when[name] = math.nan
            if not math.isfinite(when[name]):  # float() reads "nan" and "inf" too
                return _bad_request(
                    f"{name}={request.args[name]!r} is not a finite number of seconds"
                )
    if not when:
        return _started(spool_task.delay(duration))
    try:
        job = spool_task.schedule(args=(duration,), delay=when.get("delay"), at=when.get("at"))
    except ValueError as exc:
        return _bad_request(str(exc))
    return _started(job)


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>backburner · background jobs with Flask</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
td{padding:.25rem .8rem .25rem 0;vertical-align:top} code{font-size:.95em}
button{font:inherit;cursor:pointer}
</style></head>
<body>
<h1>Background jobs with Flask, on backburner</h1>
<p>The routes of the article, each now a persisted job run by a worker pool. A route
answers at once with JSON: <code>job_id</code>, <code>status_url</code> and
<code>started: true</code>. Open the status URL in a browser for a live progress bar,
or ask it for JSON. <b>Watch</b> starts a job and opens its status page.</p>
<table>
{% for path, what in [
  ("/3", "threaded_task for 3 s (the article's thread per request; / alone runs "
         ~ default ~ " s for API clients)"),
  ("/uwsgi_thread/3", "uwsgi_task for 3 s (the article's uWSGI @thread)"),
  ("/uwsgi_spool/3", "spool_task for 3 s (the article's spooler)"),
  ("/uwsgi_spool/3?delay=3", "the same, due 3 s from now (the article's at= variant)"),
] %}
<tr><td><a href="{{ path }}"><code>{{ path }}</code></a></td>
<td><button data-path="{{ path }}">Watch</button></td><td>{{ what }}</td></tr>
{% endfor %}
</table>
<p>Any duration up to {{ max }} s works: <code>/10</code>, <code>/uwsgi_thread/7</code>, ...</p>
<script>
for (const b of document.querySelectorAll("button[data-path]")) {
  b.onclick = async () => {
    const r = await fetch(b.dataset.path, {headers: {Accept: "application/json"}});
    location.href = (await r.json()).status_url;
  };
}
</script>
</body></html>
"""
