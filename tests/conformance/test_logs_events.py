"""A job's log and live events over HTTP: `GET /jobs/<id>/logs` and `/events`, under
the job API's auth. In this process with Flask's test client on every store, and read by
a real HTTP client from gunicorn (sync workers) while a real worker runs the job, on
every store processes can share."""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from backburner import Backburner
from backburner.logs import LogLine

from .. import logsapp, sse
from ..helpers import SRC, TESTS, wait_until, worker_processes
from ..servers import free_port, port_open, require
from ..test_servers import running

LEASE = 30.0


@pytest.fixture
def bb(store_url: str) -> Iterator[Backburner]:
    app = logsapp.build(store_url)
    yield app
    app.close()


def flask_app(bb: Backburner, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    bb.init_app(app, api_prefix="/jobs", auth=lambda record, request: record.task != "nothing")
    return app


def line(message: str, attempt: int = 1) -> LogLine:
    return LogLine(time.time(), attempt, "stdout", None, message)


def read_events(app: Flask, path: str, **headers: str) -> tuple[int, list[sse.Event]]:
    response = app.test_client().get(path, headers=headers, buffered=False)
    if response.status_code != 200:
        return response.status_code, []
    assert response.mimetype == "text/event-stream"
    body = response.get_data()  # the whole stream: it ends at the cap or with the job
    return 200, list(sse.parse(io.BytesIO(body)))


def test_logs_endpoint_answers_the_lines_under_the_job_apis_auth(bb: Backburner) -> None:
    job, hidden = bb.tasks["ticks"].delay(1, 0), bb.tasks["nothing"].delay()
    bb.store.append_logs({job.id: [line("<b>one</b>"), line("two", 2)], hidden.id: [line("x")]})
    client = flask_app(bb).test_client()

    def lines(query: str = "") -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = client.get(f"/jobs/{job.id}/logs{query}").json["lines"]  # type: ignore[index]
        return got

    assert [(x["seq"], x["attempt"], x["message"]) for x in lines()] == [
        (1, 1, "<b>one</b>"),
        (2, 2, "two"),
    ]
    assert [x["message"] for x in lines("?attempt=2")] == ["two"]
    assert [x["seq"] for x in lines("?after=1")] == [2]
    # auth refuses: the same 404 as an unknown id, for the log and the events
    for path in ("logs", "events"):
        assert client.get(f"/jobs/{hidden.id}/{path}").status_code == 404
        assert client.get(f"/jobs/nope/{path}").status_code == 404


def test_ids_and_numbers_of_other_digits_are_ignored_not_an_error(bb: Backburner) -> None:
    app = flask_app(bb, BACKBURNER_STREAM_SECONDS=0.1)
    job = bb.tasks["speaks"].delay()
    client = app.test_client()
    for query in ("after=%C2%B2", "attempt=%D9%A3", "after=99999999999999999999"):
        assert client.get(f"/jobs/{job.id}/logs?{query}").status_code == 200, query
    code, _ = read_events(app, f"/jobs/{job.id}/events", **{"Last-Event-ID": "\u0663"})
    assert code == 200


def test_the_status_page_shows_the_lines_escaped(bb: Backburner) -> None:
    job = bb.tasks["ticks"].delay(1, 0)
    bb.store.append_logs({job.id: [line("<script>alert(1)</script>")]})
    page = flask_app(bb).test_client().get(f"/jobs/{job.id}", headers={"Accept": "text/html"})
    text = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)" not in text
    assert f"/jobs/{job.id}/events" in text


def test_events_stream_then_end_at_the_cap_and_resume_after_the_last_id(bb: Backburner) -> None:
    job = bb.tasks["ticks"].delay(3, 0)
    [record] = bb.store.claim(None, "w", 1, LEASE)
    bb.store.append_logs({job.id: [line("a"), line("b")]})
    bb.store.set_progress(job.id, record.token, {"done": 1, "total": 3, "message": "m"})
    app = flask_app(bb, BACKBURNER_STREAM_SECONDS=0.5)
    status, found = read_events(app, f"/jobs/{job.id}/events")  # ends at the cap
    assert status == 200
    assert [(e.name, e.id) for e in found] == [
        ("log", "1"),
        ("log", "2"),
        ("progress", "2"),
        ("status", "2"),
    ]
    assert found[0].data["message"] == "a" and found[2].data == {
        "done": 1,
        "total": 3,
        "message": "m",
    }
    assert found[3].data["status"] == "running"

    bb.store.append_logs({job.id: [line("c")]})
    bb.store.complete(job.id, record.token, None)
    _, resumed = read_events(app, f"/jobs/{job.id}/events", **{"Last-Event-ID": "2"})
    assert [(e.name, e.id) for e in resumed] == [
        ("log", "3"),
        ("progress", "3"),
        ("status", "3.end"),
    ]
    assert resumed[0].data["message"] == "c" and resumed[2].data["status"] == "succeeded"
    # the client saw the end: EventSource stops reconnecting on a 204
    assert read_events(app, f"/jobs/{job.id}/events", **{"Last-Event-ID": "3.end"})[0] == 204
    # ?after= does what Last-Event-ID does, for a first connection
    _, tail = read_events(app, f"/jobs/{job.id}/events?after=2")
    assert [e.data["message"] for e in tail if e.name == "log"] == ["c"]


# -- gunicorn and a real worker --------------------------------------------------------
@pytest.fixture
def gunicorn(shared_url: str, tmp_path: Path) -> Iterator[int]:
    """A gunicorn server (2 sync workers) of tests/logsweb.py on `shared_url`: its port."""
    binary = Path(sys.executable).parent / "gunicorn"
    if not binary.exists():
        require("gunicorn", f"no {binary}; pip install -e '.[dev]'")
    from gunicorn import config  # type: ignore[import-untyped]

    port = free_port()
    args: list[str | Path] = [binary, "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{port}"]
    if hasattr(config, "ControlSocket"):
        args.append("--no-control-socket")
    env = {
        **os.environ,
        "BACKBURNER_URL": shared_url,
        "PYTHONPATH": f"{TESTS}{os.pathsep}{SRC}",
        "STREAM_SECONDS": "2",
    }
    with running([*args, "logsweb:app"], tmp_path / "gunicorn.log", env=env, cwd=TESTS):
        wait_until(lambda: port_open("127.0.0.1", port), timeout=60)
        yield port


def test_a_real_client_reads_the_stream_from_gunicorn_until_the_job_ends(
    bb: Backburner, shared_url: str, gunicorn: int, tmp_path: Path
) -> None:
    job = bb.tasks["ticks"].delay(30, 0.1)  # about 3 s: longer than one 2 s stream
    seen: list[sse.Event] = []
    last: str | None = None
    connections = 0
    with worker_processes(tmp_path) as start:
        start(shared_url, "-p", "1", app="logsapp:bb")
        # reconnect as EventSource does, with the last id, until the final status
        while not (seen and seen[-1].name == "status" and seen[-1].data["status"] == "succeeded"):
            connections += 1
            assert connections < 20, [(e.name, e.id) for e in seen]
            for event in sse.events(gunicorn, f"/jobs/{job.id}/events", last):
                seen.append(event)
                last = event.id
    assert connections >= 2, "the server capped a stream and the client resumed"
    logs = [e.data["message"] for e in seen if e.name == "log"]
    assert logs == [f"tick {i}" for i in range(1, 31)]  # each once, in order
    progress = [e.data["done"] for e in seen if e.name == "progress" and e.data]
    assert progress == sorted(progress) and progress[-1] == 30 and len(set(progress)) > 3
    assert seen[-1].id == "30.end"
    assert list(sse.events(gunicorn, f"/jobs/{job.id}/events", "30.end")) == []  # a 204


def test_resume_with_last_event_id_from_gunicorn_sends_only_what_was_missed(
    bb: Backburner, shared_url: str, gunicorn: int, tmp_path: Path
) -> None:
    job = bb.tasks["ticks"].delay(10, 0.05)
    with worker_processes(tmp_path) as start:
        start(shared_url, "-p", "1", app="logsapp:bb")
        first = []
        for event in sse.events(gunicorn, f"/jobs/{job.id}/events"):
            first.append(event)
            if event.name == "log" and event.data["message"] == "tick 3":
                break  # the client drops the connection here
        wait_until(lambda: job.refresh().status.finished, timeout=30)
    rest = list(sse.events(gunicorn, f"/jobs/{job.id}/events", first[-1].id))
    assert first[-1].id == "3"
    assert [e.data["message"] for e in rest if e.name == "log"] == [
        f"tick {i}" for i in range(4, 11)
    ]
    assert [e.data["seq"] for e in rest if e.name == "log"] == list(range(4, 11))
    assert rest[-1].name == "status" and rest[-1].data["status"] == "succeeded"


def test_the_flask_dev_server_streams_events_to_a_real_client(bb: Backburner) -> None:
    from werkzeug.serving import make_server

    job = bb.tasks["ticks"].delay(5, 0)
    [record] = bb.store.claim(None, "w", 1, LEASE)
    server = make_server("127.0.0.1", 0, flask_app(bb), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def work() -> None:  # what a worker would store, a line and a step at a time
        for i in range(1, 6):
            bb.store.append_logs({job.id: [line(f"tick {i}")]})
            bb.store.set_progress(job.id, record.token, {"done": i, "total": 5, "message": None})
            time.sleep(0.1)
        bb.store.complete(job.id, record.token, "5")

    worker = threading.Thread(target=work)
    try:
        worker.start()
        seen = list(sse.events(server.server_port, f"/jobs/{job.id}/events"))
    finally:
        worker.join()
        server.shutdown()
    assert [e.data["message"] for e in seen if e.name == "log"] == [
        f"tick {i}" for i in range(1, 6)
    ]
    assert seen[-1].name == "status" and seen[-1].data["status"] == "succeeded"
    assert seen[-1].id == "5.end"


def test_flask_backburner_logs_prints_the_lines(bb: Backburner) -> None:
    job = bb.tasks["ticks"].delay(1, 0)
    bb.store.append_logs({job.id: [line("from the job\x1b[2J")]})
    result = flask_app(bb).test_cli_runner().invoke(args=["backburner", "logs", job.id])
    assert result.exit_code == 0, result.output
    assert "#1 stdout  from the job\\x1b[2J" in result.output


def test_without_auth_a_jobs_output_is_shown_only_where_its_error_text_is(
    bb: Backburner,
) -> None:
    job = bb.tasks["ticks"].delay(1, 0)
    bb.store.append_logs({job.id: [line("password=hunter2")]})
    app = Flask(__name__)
    app.config["BACKBURNER_STREAM_SECONDS"] = 0.3
    bb.init_app(app, api_prefix="/jobs")  # no auth: output may hold secrets
    client = app.test_client()
    refused = client.get(f"/jobs/{job.id}/logs")
    assert refused.status_code == 403 and "auth" in refused.json["error"]  # type: ignore[index]
    page = client.get(f"/jobs/{job.id}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "hunter2" not in page and "Not shown" in page
    _, found = read_events(app, f"/jobs/{job.id}/events")
    assert [e.name for e in found] == ["progress", "status"]  # no log events
    # a task declared expose_error=True, or expose_errors=True, shows it
    open_app = Flask("open")
    bb.init_app(open_app, api_prefix="/jobs", expose_errors=True)
    lines = open_app.test_client().get(f"/jobs/{job.id}/logs").json["lines"]  # type: ignore[index]
    assert [x["message"] for x in lines] == ["password=hunter2"]
