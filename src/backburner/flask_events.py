"""A job's log and live events in the Flask job API, next to `GET <api_prefix>/<id>`
(see `backburner.flask_jobs`), under the same `auth`:

- `GET <api_prefix>/<id>/logs[?attempt=N&after=SEQ]`: `{"lines": [...]}`, each line
  `{"seq", "at", "attempt", "stream", "level", "message"}` (see `LogLine`); 403 where the
  job API does not show the job's output (see `flask_jobs.shows_output`);
- `GET <api_prefix>/<id>/events`: `text/event-stream` with the events `status` (the job
  as `GET <api_prefix>/<id>` answers it), `progress` (`{"done", "total", "message"}`)
  and `log` (one line; none where output is not shown), as they happen. Every event's
  `id:` is the number of the last log line sent, so a client that reconnects
  (EventSource does, with `Last-Event-ID`) gets the lines after it; `?after=SEQ` does
  the same on a first connection. The job's status and progress are sent at each
  connection. The stream ends after the job's final `status` event (whose id ends in
  ".end": a reconnection with it answers 204, which tells EventSource to stop), and in
  any case after BACKBURNER_STREAM_SECONDS (default 25 s, under gunicorn's default 30 s
  worker timeout): a sync worker is never tied up for longer, and the client
  reconnects after the `retry:` delay.

The stream reads the store every POLL seconds while it is open (the job, and its log
after the last line sent), so it works on every store and every WSGI server (the Flask
dev server included), without a message broker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from .errors import BackburnerError
from .flask_jobs import exposes_errors, job_json, shows_output, store_down, visible_job
from .job import FINISHED, JobRecord

if TYPE_CHECKING:
    from .flask import FlaskState

POLL = 0.2  # seconds between store reads of an open stream
STREAM_SECONDS = 25.0  # default longest stream, then the client reconnects
RETRY_MS = 1000  # how long EventSource waits before it reconnects
KEEPALIVE = 10.0  # seconds of quiet before a comment line, so proxies keep the stream
_END = ".end"  # the id suffix of the final status event


def add_log_routes(api: Blueprint, serving: Callable[[Flask], FlaskState]) -> None:
    """Add `/<job_id>/logs` and `/<job_id>/events` (endpoints `backburner.logs` and
    `backburner.events`) to the job API blueprint."""

    def logs(job_id: str) -> Response:
        state = serving(current_app)
        record = visible_job(state, job_id)
        if isinstance(record, Response):
            return record
        if not shows_output(state, record):
            response = jsonify(
                error="this job's log is not shown: output may hold secrets; the app shows "
                "it with init_app(..., auth=...) or expose_errors=True, or a task declared "
                "expose_error=True"
            )
            response.status_code = 403
            return response
        attempt = _int_arg("attempt")
        try:
            lines = state.bb.store.logs(job_id, attempt=attempt, after=_int_arg("after") or 0)
        except BackburnerError as exc:
            return store_down(state, exc)
        response = jsonify(lines=[line.to_json() for line in lines])
        response.cache_control.no_store = True
        return response

    def events(job_id: str) -> Response:
        state = serving(current_app)
        record = visible_job(state, job_id)
        if isinstance(record, Response):
            return record
        last = request.headers.get("Last-Event-ID") or request.args.get("after") or "0"
        if last.endswith(_END) and record.status in FINISHED:
            return Response(status=204)  # it saw the end: EventSource stops on a 204
        seconds = float(current_app.config.get("BACKBURNER_STREAM_SECONDS", STREAM_SECONDS))
        stream = _Stream(state, record, _seq(last), seconds)
        response = Response(stream.run(), mimetype="text/event-stream")
        response.cache_control.no_store = True
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response

    api.add_url_rule("/<job_id>/logs", "logs", logs)
    api.add_url_rule("/<job_id>/events", "events", events)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    return _seq(value) or None


def _seq(text: str) -> int:
    """The log line number an event id or `after=` names (0 for anything else)."""
    head = text.removesuffix(_END)
    # ASCII digits only: str.isdigit() also takes '²' and '٣', which int() refuses
    return int(head) if head.isascii() and head.isdigit() and len(head) < 19 else 0


class _Stream:
    """One client's event stream: what it was sent, and the loop that sends the rest."""

    def __init__(self, state: FlaskState, record: JobRecord, after: int, seconds: float) -> None:
        self.state = state
        self.record = record
        self.after = after
        self.deadline = time.monotonic() + seconds
        self.sent: dict[str, Any] = {}  # event name -> the data last sent
        self.output = shows_output(state, record)  # else no `log` events

    def run(self) -> Iterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        quiet_since = time.monotonic()
        store, light = self.state.bb.store, self.state.auth is None
        while True:
            try:
                # the job, then its log: a job seen finished has stored all its lines
                # (a worker writes them before the outcome), so this read gets the last
                lines = store.logs(self.record.id, after=self.after) if self.output else []
                chunk = "".join(self._lines(lines))
                finished = self.record.status in FINISHED
                chunk += self._state(finished)
            except BackburnerError:
                return  # the store is down: the client reconnects, and gets a 503 if so
            if chunk:
                quiet_since = time.monotonic()
                yield chunk
            elif time.monotonic() - quiet_since > KEEPALIVE:
                quiet_since = time.monotonic()
                yield ": still running\n\n"
            if finished or time.monotonic() >= self.deadline:
                return
            time.sleep(POLL)
            try:
                record = store.get(self.record.id, light=light)
            except BackburnerError:
                return
            if record is None:  # purged meanwhile
                return
            self.record = record

    def _lines(self, lines: list[Any]) -> Iterator[str]:
        for line in lines:
            self.after = line.seq
            yield _event("log", line.to_json(), str(line.seq))

    def _state(self, finished: bool) -> str:
        """The status and progress events due: those whose data changed."""
        data = job_json(self.state.bb, self.record, expose_error=exposes_errors(self.state))
        out = ""
        if data["progress"] != self.sent.get("progress", ...):
            self.sent["progress"] = data["progress"]
            out += _event("progress", data["progress"], str(self.after))
        rest = {k: v for k, v in data.items() if k != "progress"}
        if rest != self.sent.get("status"):
            self.sent["status"] = rest
            out += _event("status", data, f"{self.after}{_END if finished else ''}")
        return out


def _event(name: str, data: Any, event_id: str) -> str:
    # json.dumps escapes newlines, so the data is one `data:` line
    return f"event: {name}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"
