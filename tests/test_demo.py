"""The seed article's app (routes, tasks) and `backburner demo` as a user runs it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from backburner import Backburner, JobStatus
from backburner._seed import bb as seed_bb
from backburner._seed import create_app
from backburner.testing import drain

from .helpers import wait_until
from .servers import free_port
from .test_servers import BIN, job_status, running, start_job, wait_for_success

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


# -- the seed app, in process -----------------------------------------------------------
@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    # one app for the module: the seed's Backburner is module-level, and a store in use
    # cannot be switched to another file
    folder = tmp_path_factory.mktemp("seed")
    yield create_app({"BACKBURNER_URL": f"sqlite:///{folder}/jobs.db"})
    seed_bb.close()


def cancel_pending(bb: Backburner) -> None:
    for status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        for record in bb.store.list_jobs(status=status, limit=1000):
            bb.store.cancel(record.id)


@pytest.mark.parametrize(
    ("path", "task", "duration"),
    [
        ("/", "seed.threaded_task", 5),
        ("/7", "seed.threaded_task", 7),
        ("/uwsgi_thread", "seed.uwsgi_task", 5),
        ("/uwsgi_thread/2", "seed.uwsgi_task", 2),
        ("/uwsgi_spool", "seed.spool_task", 5),
        ("/uwsgi_spool/4", "seed.spool_task", 4),
    ],
)
def test_every_route_of_the_article_enqueues_its_task_and_answers_a_status_url(
    seed: Flask, path: str, task: str, duration: int
) -> None:
    response = seed.test_client().get(path, headers={"Accept": "application/json"})
    assert response.status_code == 202
    data = response.json
    assert data is not None and set(data) == {"job_id", "status_url", "started", "task", "status"}
    assert (data["started"], data["task"], data["status"]) == (True, task, "queued")
    assert data["status_url"] == f"/jobs/{data['job_id']}" == response.headers["Location"]
    record = seed_bb.store.get(data["job_id"])
    assert record is not None and json.loads(record.payload) == [[duration], {}]
    cancel_pending(seed_bb)


def test_spool_route_schedules_with_delay_or_at_like_the_articles_at_variant(
    seed: Flask,
) -> None:
    client = seed.test_client()
    before = time.time()
    later = client.get("/uwsgi_spool/2?delay=3").json
    assert later is not None and later["status"] == "scheduled"
    record = seed_bb.store.get(later["job_id"])
    assert record is not None and before + 3 <= record.run_at <= time.time() + 3
    at = time.time() + 60
    fixed = client.get(f"/uwsgi_spool/2?at={at}").json
    assert fixed is not None
    record = seed_bb.store.get(fixed["job_id"])
    assert record is not None and record.run_at == pytest.approx(at)
    for bad in ("?delay=soon", "?delay=-1", "?at=x", "?delay=1&at=2", "?delay=nan", "?at=inf"):
        response = client.get(f"/uwsgi_spool/2{bad}")
        assert response.status_code == 400 and "error" in (response.json or {}), bad
    cancel_pending(seed_bb)


def test_browsers_get_an_index_of_the_routes(seed: Flask) -> None:
    jobs_before = len(seed_bb.store.list_jobs(limit=1000))
    response = seed.test_client().get("/", headers={"Accept": BROWSER})
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path in ("/3", "/uwsgi_thread/3", "/uwsgi_spool/3", "/uwsgi_spool/3?delay=3"):
        assert f'href="{path}"' in page
    assert len(seed_bb.store.list_jobs(limit=1000)) == jobs_before, "a browser starts no job"


def test_the_duration_task_prints_and_reports_progress_each_second(
    seed: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    cancel_pending(seed_bb)
    started = seed.test_client().get("/2").json
    assert started is not None
    assert drain(seed_bb) == 1
    assert capsys.readouterr().out.splitlines() == ["Working... 1/2", "Working... 2/2"]
    data = seed.test_client().get(started["status_url"]).json
    assert data is not None and data["status"] == "succeeded"
    assert data["progress"] == {"done": 2, "total": 2, "message": "Working... 2/2"}
    assert data["result"] == {"duration": 2}


# -- backburner demo, as a user runs it -------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "sigterm"],
)
def test_demo_serves_the_app_runs_jobs_and_stops_everything(
    tmp_path: Path, stop: signal.Signals, group: bool
) -> None:
    elsewhere = tmp_path / "elsewhere"  # not the repository: the demo must not need it
    elsewhere.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args: list[str | Path] = [BIN / "backburner", "demo", "--port", str(port)]
    with running(args, tmp_path / "demo.log", cwd=elsewhere) as demo:
        wait_until(lambda: f"open:  {base}/" in demo.log(), timeout=60)
        assert f"sqlite:///{elsewhere}/backburner-demo.db" in demo.log()
        job = wait_for_success(base, start_job(base, "/1"))
        assert job["progress"]["message"] == "Working... 1/1"
        assert len(demo.remember()) >= 3, "a supervisor and its two worker processes"
        assert demo.stop(stop, timeout=30, group=group) == 0, demo.log()
        assert "stopped" in demo.log().split("stopping")[-1]
    assert (elsewhere / "backburner-demo.db").exists()


@pytest.mark.slow
def test_demo_hands_a_running_job_back_when_stopped(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "demo.db"
    args: list[str | Path] = [BIN / "backburner", "demo", "--port", str(port), "--db", db]
    args += ["--shutdown-timeout", "0.5", "--processes", "1"]
    with running(args, tmp_path / "demo.log", cwd=tmp_path) as demo:
        wait_until(lambda: "open:" in demo.log(), timeout=60)
        started = start_job(base, "/60")
        wait_until(lambda: job_status(base, started)["progress"], timeout=30)
        assert demo.stop(signal.SIGINT, timeout=30, group=True) == 0, demo.log()
    assert "handed back to the queue" in demo.log()
    bb = Backburner(f"sqlite:///{db}")
    job = bb.get_job(started["job_id"])
    assert job is not None and job.status == "queued", "it runs again on the next start"
    bb.close()


def test_demo_on_a_busy_port_says_so_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [BIN / "backburner", "demo", "--port", str(port), "--db", tmp_path / "d.db"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"Port {port} is in use" in done.stderr
    assert "open:" not in done.stdout


def test_a_duration_past_the_cap_is_refused_and_starts_nothing(seed: Flask) -> None:
    from backburner._seed.web import MAX_DURATION

    client = seed.test_client()
    jobs_before = len(seed_bb.store.list_jobs(limit=1000))
    for path in ("/99999999999999999999", f"/uwsgi_thread/{MAX_DURATION + 1}", "/uwsgi_spool/61"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 400, path
        assert f"at most {MAX_DURATION} seconds" in (response.json or {})["error"]
    assert len(seed_bb.store.list_jobs(limit=1000)) == jobs_before
    assert client.get(f"/{MAX_DURATION}").status_code == 202
    cancel_pending(seed_bb)
