"""Testing a Flask app as Flask's testing docs do: TESTING set after create_app(), eager
jobs stored, status URLs that answer, and no write into the development store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backburner import Backburner, JobStatus, current_job
from backburner.flask import job_url


def make_app_module(dev_url: str | None) -> tuple[Backburner, Any]:
    """What a user writes: a module-level Backburner, a task, a factory with a route."""
    bb = Backburner()

    @bb.task(expose_result=True, retries=1)
    def resize(size: int) -> dict[str, int]:
        if size < 0:
            raise ValueError(f"bad size {size}")
        current_job.set_progress(1, 1, "resized")
        return {"size": size}

    def create_app(config: dict[str, Any] | None = None) -> Flask:
        app = Flask("userapp")
        if dev_url is not None:
            app.config["BACKBURNER_URL"] = dev_url
        app.config.update(config or {})
        bb.init_app(app, api_prefix="/jobs")

        @app.post("/resize/<int(signed=True):size>")
        def start(size: int) -> tuple[dict[str, str], int]:
            job = resize.delay(size)
            return {"id": job.id, "status_url": job_url(job.id)}, 202

        return app

    return bb, create_app


@pytest.fixture
def no_url_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BACKBURNER_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # where the default sqlite:///backburner.db would go
    return tmp_path


def started(client: FlaskClient, size: int = 3) -> dict[str, str]:
    response = client.post(f"/resize/{size}")
    assert response.status_code == 202 and response.json is not None
    return dict(response.json)


def test_the_flask_docs_fixture_is_eager_and_its_status_urls_answer(tmp_path: Path) -> None:
    dev = tmp_path / "dev.db"
    bb, create_app = make_app_module(f"sqlite:///{dev}")
    app = create_app()
    # the fixture from Flask's testing docs, plus a store of the test's own
    app.config.update(TESTING=True, BACKBURNER_URL=f"sqlite:///{tmp_path}/test.db")
    client = app.test_client()
    body = started(client)
    status = client.get(body["status_url"], headers={"Accept": "application/json"})
    assert status.status_code == 200 and status.json is not None
    assert (status.json["status"], status.json["result"]) == ("succeeded", {"size": 3})
    assert status.json["progress"] == {"done": 1, "total": 1, "message": "resized"}
    job = bb.get_job(body["id"])
    assert job is not None and job.result == {"size": 3}
    assert not dev.exists(), "the test wrote nothing into the development store"
    bb.close()


def test_testing_after_the_factory_with_no_url_anywhere_uses_memory(no_url_anywhere: Path) -> None:
    bb, create_app = make_app_module(None)
    app = create_app()
    app.config.update(TESTING=True)
    body = started(app.test_client())
    assert bb.url == "memory://"
    job = bb.get_job(body["id"])
    assert job is not None and job.status is JobStatus.SUCCEEDED
    # the instance folder may be made (it is where a relative default would go), no file
    assert list(no_url_anywhere.rglob("*.db*")) == [], "no backburner.db written anywhere"


def test_a_factory_given_testing_with_no_url_anywhere_uses_memory(no_url_anywhere: Path) -> None:
    bb, create_app = make_app_module(None)
    app = create_app({"TESTING": True})
    assert bb.url == app.config["BACKBURNER_URL"] == "memory://"
    with app.app_context():
        assert bb.tasks[next(iter(bb.tasks))].delay(2).result == {"size": 2}


def test_a_non_testing_app_is_not_eager_and_keeps_its_store(tmp_path: Path) -> None:
    bb, create_app = make_app_module(f"sqlite:///{tmp_path}/dev.db")
    app = create_app()
    body = started(app.test_client())
    job = bb.get_job(body["id"])
    assert job is not None and job.status is JobStatus.QUEUED
    assert bb.url == f"sqlite:///{tmp_path}/dev.db"
    bb.close()


def test_eager_raise_config_reraises_the_task_exception_in_the_request() -> None:
    bb, create_app = make_app_module("memory://")
    app = create_app()
    app.config.update(TESTING=True, BACKBURNER_EAGER_RAISE=True)
    with pytest.raises(ValueError, match="bad size -1"):
        app.test_client().post("/resize/-1")
    [failed] = bb.store.list_jobs(status=JobStatus.FAILED)
    assert failed.attempts == 2, "stored as failed, after its retry, before it is raised"


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    bb, create_app = make_app_module("memory://")
    app = create_app({"TESTING": True})
    yield app.test_client()
    bb.close()


def test_the_readme_route_test(client: FlaskClient) -> None:
    body = started(client, 5)
    data = client.get(body["status_url"]).json
    assert data is not None and (data["status"], data["result"]) == ("succeeded", {"size": 5})
