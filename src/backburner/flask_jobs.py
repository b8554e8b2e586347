"""The Flask job API: `GET <api_prefix>/<job_id>` answers a job as JSON, or as a page that
polls that JSON, for apps initialised with `api_prefix` (see `backburner.flask`).

What it shows, and to whom:
- an unknown id, and a job `auth` refuses, get the same 404: a client cannot learn whether
  an id exists unless it may see the job. An id longer than any job id is not looked up,
  and ids are echoed back only when short;
- a job's error shows its first line when the task was declared `expose_error=True`,
  `init_app(..., expose_errors=True)` says so for every task, or an `auth` callback
  decides who sees jobs; otherwise only the exception type (an error message may hold
  secrets: "ValueError: bad token sk_live_...");
- the result only for tasks declared `expose_result=True`;
- a job's log (`<id>/logs`, the `log` events of `<id>/events`, the page's output) where
  its error's text is shown, as output may hold the same secrets (see `shows_output`);
- NaN and infinities, which JSON cannot hold, as the strings "NaN", "Infinity" and
  "-Infinity" (as protobuf's JSON mapping writes them), so the answer is always JSON;
- without an `auth` callback, each request reads the job without its arguments and
  failure history (`Store.get(light=True)`): polling a job with 50 MB of arguments reads
  none of them. An `auth` callback gets the whole job, as it may decide by its arguments.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template_string,
    request,
    url_for,
)

from . import codec
from .errors import BackburnerError
from .job import JobRecord, JobStatus
from .urls import scrub

if TYPE_CHECKING:
    from .app import Backburner
    from .flask import FlaskState

__all__ = ["job_api", "job_json", "json_safe", "visible_job", "wants_html"]

log = logging.getLogger(__name__)

# Job ids are 32 hex digits; anything much longer is no job's, and not worth a store read
_LONGEST_ID = 255
# ids up to this length are named in a 404; a longer one is not echoed back
_ECHOED_ID = 64


def job_json(bb: Backburner, record: JobRecord, *, expose_error: bool = False) -> dict[str, Any]:
    """A job as the API shows it: id, task, queue, status, attempts, max_attempts,
    progress, created_at/run_at/started_at/finished_at (Unix seconds), error, and `result`
    only if the task was declared with `expose_result=True`. `error` is the error's first
    line if `expose_error` or the task was declared `expose_error=True`, else only the
    exception type. Always valid JSON: NaN and infinities become strings (see `json_safe`)."""
    data = record.to_dict()
    task = bb.tasks.get(record.task)
    if data["error"] and not (expose_error or (task is not None and task.opts.expose_error)):
        data["error"] = data["error"].partition(":")[0]  # "ValueError: msg" -> "ValueError"
    if task is not None and task.opts.expose_result:
        text = record.result if record.status is JobStatus.SUCCEEDED else None
        data["result"] = None if text is None else codec.loads_plain(text)
    safe: dict[str, Any] = json_safe(data)
    return safe


def json_safe(value: Any) -> Any:
    """`value` (plain JSON data) with every NaN, inf and -inf replaced by the string
    "NaN", "Infinity" or "-Infinity": JSON has no such numbers, and a browser's
    `response.json()` fails on them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def wants_html() -> bool:
    """True when the current request prefers text/html to JSON: a browser, not an API client."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def job_api(prefix: str, serving: Callable[[Flask], FlaskState]) -> Blueprint:
    """The blueprint of `GET <prefix>/<job_id>`, endpoint `backburner.job`. `serving(app)`
    gives the app's FlaskState, its Backburner pointed at the store the config names now."""
    api = Blueprint("backburner", __name__, url_prefix=prefix.rstrip("/"))
    warned = False

    def job(job_id: str) -> Response:
        nonlocal warned
        state = serving(current_app)
        # at the first request, not at init_app: `flask backburner ...` and workers call
        # create_app too, and would print it on every command
        if state.auth is None and not warned:
            warned = True
            log.warning(
                "the job API at %s shows any job to anyone who has its id: pass "
                "init_app(app, api_prefix=..., auth=lambda record, request: ...) to decide "
                "who may see a job (auth=lambda record, request: True keeps it open)",
                prefix,
            )
        return _job_view(state, job_id)

    api.add_url_rule("/<job_id>", "job", job)
    from .flask_events import add_log_routes  # it uses this module's helpers

    add_log_routes(api, serving)
    return api


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _not_found(job_id: str) -> Response:
    named = repr(job_id) if len(job_id) <= _ECHOED_ID else f"with that {len(job_id)}-character id"
    return _error(404, f"no job {named}")


def visible_job(state: FlaskState, job_id: str) -> JobRecord | Response:
    """The job `job_id` if this request may see it, else the error response to answer:
    404 for an unknown id and for a job `auth` refuses, 503 when the store is down."""
    if len(job_id) > _LONGEST_ID:
        return _not_found(job_id)
    try:
        # light: the page polls this; the arguments may be megabytes and are never shown.
        # An auth callback gets the whole job: it may decide by the job's arguments.
        record = state.bb.store.get(job_id, light=state.auth is None)
    except BackburnerError as exc:
        return store_down(state, exc)
    # a job auth refuses answers as an unknown id does: existence is not told either
    if record is None or (state.auth is not None and not state.auth(record, request)):
        return _not_found(job_id)
    return record


def store_down(state: FlaskState, exc: BackburnerError) -> Response:
    """The 503 answered when the store cannot be read; the reason goes to the app's log."""
    current_app.logger.warning("backburner job API: %s", scrub(str(exc), state.bb.url))
    return _error(503, "the job store is unavailable; try again shortly")


def _job_view(state: FlaskState, job_id: str) -> Response:
    record = visible_job(state, job_id)
    if isinstance(record, Response):
        return record
    data = job_json(state.bb, record, expose_error=exposes_errors(state))
    try:  # what it waits for, and what waits for it: id, task and status of each
        data["dependencies"] = [link.to_json() for link in state.bb.store.links(record.depends_on)]
        data["dependents"] = [link.to_json() for link in state.bb.store.dependents(job_id)]
    except BackburnerError as exc:
        return store_down(state, exc)
    if wants_html():
        shown = shows_output(state, record)
        try:
            lines = [line.to_json() for line in state.bb.store.logs(job_id)] if shown else []
        except BackburnerError as exc:
            return store_down(state, exc)
        page = render_template_string(
            _PAGE,
            job=data,
            lines=lines,
            show_output=shown,
            last_seq=lines[-1]["seq"] if lines else 0,
            events_url=url_for("backburner.events", job_id=job_id),
            logs_url=url_for("backburner.logs", job_id=job_id),
            **_first_view(data),
        )
        response = Response(page, mimetype="text/html")
    else:
        response = jsonify(data)
    response.vary.add("Accept")  # one URL, two representations: caches must keep both
    response.cache_control.no_store = True
    return response


def exposes_errors(state: FlaskState) -> bool:
    """Whether this app's job API shows every error's first line (see the module doc)."""
    return state.expose_errors or state.auth is not None


def shows_output(state: FlaskState, record: JobRecord) -> bool:
    """Whether the job API shows this job's log: where it shows its error's text (an
    `auth` callback, `expose_errors`, or the task's `expose_error=True`), as output may
    hold the same secrets as an error message."""
    task = state.bb.tasks.get(record.task)
    return exposes_errors(state) or (task is not None and task.opts.expose_error)


def _first_view(job: dict[str, Any]) -> dict[str, Any]:
    """What the page shows before any script runs (or without JavaScript): the share done
    and the detail rows, the same ones show() draws, with times in UTC."""
    progress = job.get("progress") or {}
    done, total = progress.get("done", 0), progress.get("total")
    numbers = all(isinstance(n, (int, float)) for n in (done, total))  # not "NaN"
    share = 1.0 if job["status"] == "succeeded" else (done / total if numbers and total else 0)

    def when(t: float | None) -> str:
        return "-" if t is None else time.strftime("%H:%M:%S UTC", time.gmtime(t))

    rows = [
        ("attempts", f"{job['attempts']} of {job['max_attempts']}"),
        ("created", when(job["created_at"])),
        ("due", when(job["run_at"])),
        ("started", when(job["started_at"])),
        ("finished", when(job["finished_at"])),
    ]
    if job.get("error"):
        rows.append(("error", job["error"]))
    if "result" in job and job["status"] == "succeeded":
        rows.append(("result", json.dumps(job["result"])))
    return {
        "share": min(100.0, share * 100),
        "message": progress.get("message") or "",
        "rows": rows,
    }


# The server renders the job and its log as they are now (so the page works without
# JavaScript); then the script listens to the job's event stream (flask_events), drawing
# each status, progress and log event as it comes, and falls back to polling the same
# URL for JSON (and /logs for new lines) where EventSource is missing or fails.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ job.task }} · job {{ job.id }}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem;margin-bottom:.2rem} code{font-size:.9em} h2{font-size:1.1rem}
.bar{height:1.5rem;background:#e8e8e8;border-radius:.4rem;overflow:hidden;margin:1rem 0}
.fill{height:100%;width:0;background:#3a7bd5;transition:width .4s}
.succeeded .fill{background:#2e9d5b} .failed .fill,.cancelled .fill{background:#c9423b}
#status{font-weight:600} dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
dt{color:#666} dd{margin:0;overflow-wrap:anywhere}
#log{background:#1e1e1e;color:#ddd;font:13px/1.4 ui-monospace,monospace;padding:.6rem;
border-radius:.4rem;max-height:24rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
#log:empty::before{content:"no output yet";color:#888}
.line .meta{color:#888} .stderr,.ERROR,.CRITICAL{color:#f28b82} .WARNING{color:#fdd663}
</style></head>
<body class="{{ job.status }}">
<h1>{{ job.task }}</h1>
<div>job <code>{{ job.id }}</code> · <span id="status">{{ job.status }}</span>
<span id="message">{{ message }}</span></div>
<div class="bar"><div class="fill" id="fill" style="width:{{ share }}%"></div></div>
<dl id="details">{% for name, value in rows -%}
<dt>{{ name }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<h2>Output</h2>
{% if not show_output -%}
<p>Not shown: a job's output may hold secrets. The app shows it with an auth callback,
<code>expose_errors=True</code>, or a task declared <code>expose_error=True</code>.</p>
{%- endif %}
<div id="log"{% if not show_output %} hidden{% endif %}>{%- for line in lines -%}
<div class="line {{ line.stream }} {{ line.level or '' }}">
{%- set source = line.level or line.stream -%}
<span class="meta">#{{ line.attempt }} {{ source }}</span> {{ line.message }}</div>
{%- endfor -%}</div>
<noscript><p>This page does not update by itself without JavaScript: reload it.</p></noscript>
<script>
const FINISHED = ["succeeded", "failed", "cancelled"];
const EVENTS = {{ events_url|tojson }}, LOGS = {{ logs_url|tojson }};
let lastSeq = {{ last_seq|tojson }}, finished = FINISHED.includes({{ job.status|tojson }});
const when = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "-");
function showProgress(p, status) {
  p = p || {};
  let share = p.total ? p.done / p.total : 0;
  if (status === "succeeded") share = 1;
  document.getElementById("message").textContent = p.message || "";
  document.getElementById("fill").style.width = Math.min(100, share * 100) + "%";
}
function show(job) {
  finished = FINISHED.includes(job.status);
  document.body.className = job.status;
  document.getElementById("status").textContent = job.status;
  showProgress(job.progress, job.status);
  const rows = [["attempts", job.attempts + " of " + job.max_attempts],
    ["created", when(job.created_at)], ["due", when(job.run_at)],
    ["started", when(job.started_at)], ["finished", when(job.finished_at)]];
  if (job.error) rows.push(["error", job.error]);
  if ("result" in job && job.status === "succeeded") {
    rows.push(["result", JSON.stringify(job.result)]);
  }
  const dl = document.getElementById("details");
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v; return [dt, dd];
  }));
}
function addLines(lines) {
  const log = document.getElementById("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  for (const line of lines) {
    if (line.seq <= lastSeq) continue;  // already shown (a reconnection, a poll)
    lastSeq = line.seq;
    const div = document.createElement("div"), meta = document.createElement("span");
    div.className = "line " + line.stream + " " + (line.level || "");
    meta.className = "meta";
    meta.textContent = "#" + line.attempt + " " + (line.level || line.stream);
    div.append(meta, " " + line.message);  // text, never HTML
    log.append(div);
  }
  if (atEnd) log.scrollTop = log.scrollHeight;
}
function listen() {
  if (!window.EventSource) { poll(); return; }
  const events = new EventSource(EVENTS + "?after=" + lastSeq);
  let opened = false;
  events.onopen = () => { opened = true; };
  events.addEventListener("log", (e) => addLines([JSON.parse(e.data)]));
  events.addEventListener("progress", (e) => {
    showProgress(JSON.parse(e.data), document.body.className);
  });
  events.addEventListener("status", (e) => {
    show(JSON.parse(e.data));
    if (finished) events.close();
  });
  // a stream that ends (the server's cap) is reopened by EventSource itself; one that
  // never opened, or that EventSource gave up on, falls back to polling
  events.onerror = () => {
    if (!opened || events.readyState === EventSource.CLOSED) { events.close(); poll(); }
  };
}
async function poll() {
  try {
    const r = await fetch(location.href,
                          {headers: {Accept: "application/json"}, cache: "no-store"});
    const l = await fetch(LOGS + "?after=" + lastSeq, {cache: "no-store"});
    if (l.ok) addLines((await l.json()).lines);
    if (r.ok) {
      show(await r.json());
      if (!finished) setTimeout(poll, 500);
      return;
    }
  } catch (e) { /* server restarting: try again */ }
  setTimeout(poll, 2000);
}
show({{ job|tojson }});
if (!finished) listen();
</script>
</body></html>
"""
