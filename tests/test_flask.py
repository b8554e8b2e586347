"""The Flask extension: config, app factory, app context in jobs, eager testing, job API."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask, Request, current_app

from backburner import Backburner, BackburnerError, JobRecord, current_job
from backburner.flask import FlaskState, job_url
from backburner.loader import as_backburner
from backburner.testing import drain

USER_APP = '''
"""A typical user app: module-level Backburner and tasks, an app factory, Flask-SQLAlchemy."""
from pathlib import Path

from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy

from backburner import Backburner

HERE = Path(__file__).parent
bb = Backburner()
db = SQLAlchemy()


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(50))


@bb.task(expose_result=True)
def whoami(text):
    current_app.logger.warning("whoami running in app %s", current_app.config["MARKER"])
    db.session.add(Note(text=text))
    db.session.commit()
    return {"marker": current_app.config["MARKER"], "notes": db.session.query(Note).count()}


def create_app(config=None):
    app = Flask("userapp")
    app.config.update(
        MARKER="factory",
        BACKBURNER_URL=f"sqlite:///{HERE}/jobs.db",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{HERE}/app.db",
    )
    app.config.update(config or {})
    db.init_app(app)
    bb.init_app(app, api_prefix="/jobs")
    with app.app_context():
        db.create_all()
    return app
'''


def user_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """USER_APP as module `userapp` in tmp_path, imported fresh for one test."""
    (tmp_path / "userapp.py").write_text(USER_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "userapp", raising=False)
    module = importlib.import_module("userapp")
    yield module
    module.bb.close()
    sys.modules.pop("userapp", None)


@pytest.fixture
def userapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield from user_app(tmp_path, monkeypatch)


def flask_app(
    bb: Backburner, *, api_prefix: str | None = None, auth: Any = None, **config: Any
) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    bb.init_app(app, api_prefix=api_prefix, auth=auth)
    return app


# -- config and initialisation ----------------------------------------------------------
def test_config_sets_the_store_and_task_defaults_also_for_tasks_declared_before(
    tmp_path: Path,
) -> None:
    bb = Backburner("memory://")

    @bb.task
    def plain() -> None: ...

    @bb.task(queue="mail", retries=7)
    def explicit() -> None: ...

    url = f"sqlite:///{tmp_path}/jobs.db"
    app = flask_app(
        bb, BACKBURNER_URL=url, BACKBURNER_QUEUE="web", BACKBURNER_RETRIES=1, BACKBURNER_LEASE=12
    )
    assert bb.url == url == app.config["BACKBURNER_URL"]
    assert (plain.queue, plain.retries) == ("web", 1)
    assert (explicit.queue, explicit.retries) == ("mail", 7)
    assert bb.settings.lease == 12

    @bb.task
    def later() -> None: ...

    assert later.queue == "web"
    job = plain.delay()
    assert (job.queue, job.record.max_attempts) == ("web", 2)
    assert bb.get_job(job.id) is not None, "the job went to the configured SQLite store"
    state = app.extensions["backburner"]
    assert isinstance(state, FlaskState) and state.bb is bb
    assert as_backburner(app) is bb, "`backburner worker module:app` finds it"
    bb.close()


def test_without_url_config_the_backburner_keeps_its_own_and_config_reports_it() -> None:
    bb = Backburner("memory://")
    app = flask_app(bb)
    assert app.config["BACKBURNER_URL"] == "memory://"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BACKBURNER_RETRIES", "many"),
        ("BACKBURNER_RETRIES", -1),
        ("BACKBURNER_QUEUE", ""),
        ("BACKBURNER_LEASE", 0),
        ("BACKBURNER_EAGER", "perhaps"),
        ("BACKBURNER_URL", "ftp://nope"),
    ],
)
def test_bad_config_raises_and_changes_nothing(key: str, value: object) -> None:
    bb = Backburner("memory://")

    @bb.task
    def t() -> None: ...

    app = Flask(__name__)
    app.config[key] = value
    with pytest.raises(ValueError):
        bb.init_app(app)
    assert "backburner" not in app.extensions
    assert "backburner" not in app.cli.commands
    assert (bb.url, bb.settings.retries, t.queue, bb.eager) == (
        "memory://",
        3,
        "default",
        False,
    )


def test_api_prefix_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="starting with '/'"):
        Backburner("memory://").init_app(Flask(__name__), api_prefix="jobs")


def test_second_init_app_on_the_same_app_is_an_error() -> None:
    bb = Backburner("memory://")
    app = flask_app(bb)
    with pytest.raises(BackburnerError, match="already initialised"):
        bb.init_app(app)
    with pytest.raises(BackburnerError, match="already initialised"):
        Backburner("memory://").init_app(app)


def test_a_new_store_url_switches_the_store(tmp_path: Path) -> None:
    bb = Backburner(f"sqlite:///{tmp_path}/a.db")

    @bb.task
    def t() -> None: ...

    flask_app(bb)
    first = t.delay()
    flask_app(bb, BACKBURNER_URL=f"sqlite:///{tmp_path}/b.db")
    assert bb.get_job(first.id) is None, "jobs now go to and come from b.db"
    second = t.delay()
    flask_app(bb, BACKBURNER_URL=f"sqlite:///{tmp_path}/a.db")
    assert bb.get_job(first.id) is not None and bb.get_job(second.id) is None
    bb.close()


# -- app factory and several apps -------------------------------------------------------
def test_app_factory_several_apps_share_the_backburner_and_the_latest_config_wins(
    userapp: ModuleType,
) -> None:
    first = userapp.create_app({"BACKBURNER_QUEUE": "first", "MARKER": "first"})
    assert userapp.whoami.queue == "first"
    second = userapp.create_app({"MARKER": "second"})
    assert userapp.whoami.queue == "default", "nothing of the first app's config leaks"
    assert as_backburner(first) is as_backburner(second) is userapp.bb

    job = userapp.whoami.delay("no app context here")
    assert userapp.bb is not None
    drain(userapp.bb)
    assert job.refresh().result == {"marker": "second", "notes": 1}, "the latest app"

    job = userapp.whoami.delay("inside the first app")
    with first.app_context():
        drain(userapp.bb)
    assert job.refresh().result["marker"] == "first", "the app whose context is active"


def test_jobs_run_in_a_fresh_app_context_with_flask_sqlalchemy(userapp: ModuleType) -> None:
    app = userapp.create_app()
    jobs = [userapp.whoami.delay(f"note {i}") for i in range(3)]
    assert drain(userapp.bb) == 3
    assert [j.refresh().result for j in jobs] == [
        {"marker": "factory", "notes": n} for n in (1, 2, 3)
    ]
    with app.app_context():
        notes = userapp.db.session.query(userapp.Note).order_by(userapp.Note.id).all()
        assert [n.text for n in notes] == ["note 0", "note 1", "note 2"]


def test_a_real_worker_runs_jobs_inside_the_app_context(
    userapp: ModuleType, tmp_path: Path
) -> None:
    userapp.create_app({"MARKER": "in the test"})  # only to enqueue from here
    job = userapp.whoami.delay("from a worker")
    done = subprocess.run(
        [sys.executable, "-m", "backburner", "worker", "userapp:create_app()", "--burst"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert job.refresh().status == "succeeded", job.error
    assert job.result == {"marker": "factory", "notes": 1}
    assert "whoami running in app factory" in done.stderr, "app.logger works in the worker"


# -- eager mode -------------------------------------------------------------------------
def test_a_testing_app_runs_jobs_eagerly_unless_config_says_otherwise() -> None:
    bb = Backburner("memory://")

    @bb.task(expose_result=True)
    def app_name() -> str:
        return str(current_app.config["MARKER"])

    flask_app(bb, TESTING=True, MARKER="testing")
    job = app_name.delay()
    assert (job.status, job.result) == ("succeeded", "testing")
    # issue 12 changed this: eager jobs are stored too (they used to be left out)
    assert [r.id for r in bb.store.list_jobs()] == [job.id], "eager jobs are stored"

    flask_app(bb, TESTING=True, BACKBURNER_EAGER=False)
    assert app_name.delay().status == "queued"
    flask_app(bb, BACKBURNER_EAGER="true", MARKER="told to")
    assert app_name.delay().result == "told to"
    flask_app(bb)
    assert bb.eager is False, "a later non-testing app is not eager"


def test_a_backburner_made_eager_stays_eager_unless_config_says_otherwise() -> None:
    bb = Backburner("memory://", eager=True)
    flask_app(bb)
    assert bb.eager is True
    flask_app(bb, BACKBURNER_EAGER=False)
    assert bb.eager is False


def test_an_eager_job_started_in_a_request_sees_that_app() -> None:
    bb = Backburner("memory://")

    @bb.task
    def marker() -> str:
        return str(current_app.config["MARKER"])

    app = flask_app(bb, TESTING=True, MARKER="request app")
    flask_app(bb, TESTING=True, MARKER="another app")

    @app.get("/go")
    def go() -> dict[str, Any]:
        return {"result": marker.delay().result}

    assert app.test_client().get("/go").json == {"result": "request app"}


# -- the job API ------------------------------------------------------------------------
@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Backburner, Flask]]:
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @bb.task(name="work", expose_result=True)
    def work(n: int) -> dict[str, Any]:
        current_job.set_progress(n, 10, f"did {n}")
        return {"n": n, "when": dt.datetime(2024, 5, 1, 12, 0), "raw": b"\x00\x01"}

    @bb.task(name="private")
    def private() -> str:
        return "secret"

    @bb.task(name="boom", retries=0)
    def boom() -> None:
        raise ValueError("boom\nsecond line of the message")

    def auth(record: JobRecord, request: Request) -> bool:
        return request.headers.get("X-User") != "mallory" and record.queue != "locked"

    yield bb, flask_app(bb, api_prefix="/jobs", auth=auth)
    bb.close()


def test_job_json_has_status_progress_timestamps_and_an_exposed_result(
    api: tuple[Backburner, Flask],
) -> None:
    bb, app = api
    client = app.test_client()
    job = bb.tasks["work"].delay(3)
    queued = client.get(f"/jobs/{job.id}").json
    assert queued is not None
    assert (queued["status"], queued["result"], queued["started_at"]) == ("queued", None, None)
    drain(bb)
    data = client.get(f"/jobs/{job.id}", headers={"Accept": "application/json"}).json
    assert data is not None
    assert {k: data[k] for k in ("id", "task", "status", "attempts", "max_attempts")} == {
        "id": job.id,
        "task": "work",
        "status": "succeeded",
        "attempts": 1,
        "max_attempts": 4,
    }
    assert data["progress"] == {"done": 3, "total": 10, "message": "did 3"}
    assert data["created_at"] <= data["started_at"] <= data["finished_at"]
    assert data["error"] is None
    assert data["result"] == {"n": 3, "when": "2024-05-01T12:00:00", "raw": "AAE="}


def test_result_is_shown_only_when_the_task_opted_in(api: tuple[Backburner, Flask]) -> None:
    bb, app = api
    job = bb.tasks["private"].delay()
    drain(bb)
    data = app.test_client().get(f"/jobs/{job.id}").json
    assert data is not None and data["status"] == "succeeded" and "result" not in data
    record = bb.store.get(job.id)
    assert record is not None
    assert data == {**record.to_dict(), "dependencies": [], "dependents": []}, (
        "the shape the CLI's --json shows"
    )


def test_error_shows_only_its_first_line(api: tuple[Backburner, Flask]) -> None:
    bb, app = api
    job = bb.tasks["boom"].delay()
    drain(bb)
    assert "Traceback" in (job.refresh().error or "")
    data = app.test_client().get(f"/jobs/{job.id}").json
    assert data is not None
    assert (data["status"], data["error"]) == ("failed", "ValueError: boom")


def test_unknown_job_is_a_json_404(api: tuple[Backburner, Flask]) -> None:
    response = api[1].test_client().get("/jobs/nope", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json == {"error": "no job 'nope'"}


def test_auth_sees_the_record_and_the_request_and_a_refusal_answers_as_an_unknown_id(
    api: tuple[Backburner, Flask],
) -> None:
    bb, app = api
    job = bb.tasks["work"].delay(1)
    client = app.test_client()
    refused = client.get(f"/jobs/{job.id}", headers={"X-User": "mallory"})
    unknown = client.get("/jobs/0123456789abcdef0123456789abcdef", headers={"X-User": "mallory"})
    # issue 13: a refusal was a 403, which told that the id exists
    assert refused.status_code == unknown.status_code == 404
    assert refused.json == {"error": f"no job {job.id!r}"}
    assert client.get(f"/jobs/{job.id}", headers={"X-User": "alice"}).status_code == 200
    locked = bb.tasks["work"].options(queue="locked").delay(1)
    assert client.get(f"/jobs/{locked.id}", headers={"X-User": "alice"}).status_code == 404


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("application/json", "application/json"),
        ("*/*", "application/json"),  # curl, requests
        (None, "application/json"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("text/html", "text/html"),
    ],
)
def test_status_url_answers_json_to_clients_and_a_page_to_browsers(
    api: tuple[Backburner, Flask], accept: str | None, kind: str
) -> None:
    bb, app = api
    job = bb.tasks["work"].delay(2)
    headers = {"Accept": accept} if accept else {}
    response = app.test_client().get(f"/jobs/{job.id}", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == kind
    assert "Accept" in response.vary and response.cache_control.no_store
    if kind == "text/html":
        page = response.get_data(as_text=True)
        assert job.id in page and 'id="fill"' in page  # the progress bar
        assert "application/json" in page and "setTimeout(poll" in page  # it polls the JSON


def test_the_page_escapes_what_it_shows(tmp_path: Path) -> None:
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @bb.task(name="<script>alert(1)</script>", expose_result=True)
    def evil() -> str:
        return "</script><script>alert(2)</script>"

    app = flask_app(bb, api_prefix="/jobs")
    job = evil.delay()
    drain(bb)
    page = app.test_client().get(f"/jobs/{job.id}", headers={"Accept": "text/html"}).text
    assert "<script>alert" not in page and "</script><script>" not in page
    bb.close()


def test_the_page_shows_the_status_without_javascript(tmp_path: Path) -> None:
    bb = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @bb.task(name="answer", expose_result=True)
    def answer() -> int:
        return 42

    @bb.task(name="broken", retries=0, expose_error=True)  # issue 13: errors opt in
    def broken() -> None:
        raise KeyError("gone")

    app = flask_app(bb, api_prefix="/jobs")
    done, bad = answer.delay(), broken.delay()
    drain(bb)
    client = app.test_client()
    html = {"Accept": "text/html"}
    page = client.get(f"/jobs/{done.id}", headers=html).text
    body = page.split("<script>")[0]  # what a browser without JavaScript shows
    assert '<span id="status">succeeded</span>' in body and "width:100.0%" in body
    assert "<dt>result</dt><dd>42</dd>" in body and "<dt>attempts</dt><dd>1 of 4</dd>" in body
    failed = client.get(f"/jobs/{bad.id}", headers=html).text.split("<script>")[0]
    assert '<span id="status">failed</span>' in failed
    assert "<dt>error</dt><dd>KeyError: &#39;gone&#39;</dd>" in failed
    bb.close()


def test_without_api_prefix_there_is_no_job_api() -> None:
    bb = Backburner("memory://")
    app = flask_app(bb)
    assert app.test_client().get("/jobs/x").status_code == 404
    with app.test_request_context(), pytest.raises(BackburnerError, match="api_prefix"):
        job_url("x")


def test_api_prefix_from_config_and_job_url() -> None:
    bb = Backburner("memory://")
    app = flask_app(bb, BACKBURNER_API_PREFIX="/api/jobs/")
    with app.test_request_context():
        assert job_url("abc") == "/api/jobs/abc"
        assert job_url("abc", _external=True) == "http://localhost/api/jobs/abc"
    assert app.test_client().get("/api/jobs/abc").status_code == 404


def test_store_down_is_a_json_503(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    bb = Backburner(f"sqlite:///{folder}/jobs.db")  # a missing folder now fails right here
    app = flask_app(bb, api_prefix="/jobs")
    folder.rmdir()  # so the store, opened at the first request, cannot be
    response = app.test_client().get("/jobs/abc")
    assert response.status_code == 503
    assert response.json == {"error": "the job store is unavailable; try again shortly"}
