"""examples/fastapi/: async routes enqueue off the event loop, a real `backburner worker
reports.jobs` runs the async task, the status route answers it as it goes."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backburner import signals
from backburner.testing import eager

from .helpers import SERVER_STORES, SRC, TESTS, Start, server_store_url, wait_until
from .servers import free_port, port_open

EXAMPLE = TESTS.parent / "examples" / "fastapi"
GUIDE = TESTS.parent / "docs" / "guides" / "fastapi.md"


@pytest.fixture(scope="module")
def reports() -> Iterator[Any]:
    """The example's web app module, imported from EXAMPLE."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        yield importlib.import_module("reports.main")


@pytest.fixture
def bb(reports: Any) -> Iterator[Any]:
    """The example's Backburner; each test points it at a store of its own."""
    yield reports.bb
    reports.bb.close()


@pytest.fixture(params=SERVER_STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return server_store_url(request, tmp_path)


def job_info(client: TestClient, url: str) -> dict[str, Any]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_a_worker_builds_the_report_an_async_route_enqueued(
    reports: Any, bb: Any, store_url: str, start: Start
) -> None:
    bb.url = store_url
    with TestClient(reports.app) as client:
        answer = client.post("/reports", json={"user_id": 40, "days": 3})
        assert answer.status_code == 202
        url = answer.json()["status_url"]
        assert url == answer.headers["Location"] == f"/jobs/{answer.json()['job_id']}"
        assert answer.json()["status"] == "queued"
        assert job_info(client, url)["status"] == "queued"

        worker = start(store_url, app="reports.jobs", cwd=EXAMPLE)
        done = wait_until(lambda: job_info(client, url)["status"] == "succeeded", 30)
        assert done, worker.log()
        job = job_info(client, url)
    assert job["task"] == "reports.jobs.build_report"
    assert job["result"] == {"user_id": 40, "days": 3, "total": 40 + 41 + 42}
    assert job["progress"] == {"done": 3, "total": 3, "message": "3 of 3 days fetched"}
    assert job["attempts"] == 1 and job["error"] is None
    assert "tasks reports.jobs.build_report" in worker.log()


def test_the_route_enqueues_off_the_event_loop(reports: Any, bb: Any, tmp_path: Path) -> None:
    bb.url = f"sqlite:///{tmp_path}/jobs.db"
    loops: list[asyncio.AbstractEventLoop | None] = []

    def enqueued(sender: Any, **data: Any) -> None:  # called by delay(), where it runs
        try:
            loops.append(asyncio.get_running_loop())
        except RuntimeError:
            loops.append(None)

    signals.job_enqueued.connect(enqueued, sender=bb)
    try:
        with TestClient(reports.app) as client:
            assert client.post("/reports", json={"user_id": 1}).status_code == 202
    finally:
        signals.job_enqueued.disconnect(enqueued, sender=bb)
    assert loops == [None], "delay() ran in a thread, not on the event loop"


def test_the_status_route_answers_404_for_an_unknown_job(reports: Any, bb: Any) -> None:
    bb.url = "memory://"
    with TestClient(reports.app) as client:
        assert client.get("/jobs/" + "0" * 32).status_code == 404
        assert client.get("/jobs/" + "0" * 65).status_code == 422, "too long to be looked up"
        assert client.post("/reports", json={"user_id": 1, "days": 0}).status_code == 422


def test_in_eager_mode_the_report_is_built_in_the_request(reports: Any, bb: Any) -> None:
    bb.url = "memory://"  # as a user's own tests would: no store, no worker
    with eager(bb), TestClient(reports.app) as client:
        answer = client.post("/reports", json={"user_id": 2, "days": 2})
        assert answer.json()["status"] == "succeeded"
        job = job_info(client, answer.json()["status_url"])
    assert job["result"] == {"user_id": 2, "days": 2, "total": 2 + 3}


def readme_commands() -> dict[str, list[str]]:
    """The README's commands that start the web app and the worker, as argument lists."""
    text = (EXAMPLE / "README.md").read_text()
    lines = [
        line for block in re.findall(r"```sh\n(.*?)```", text, re.S) for line in block.splitlines()
    ]
    found = {}
    for name, start in (("web", ["uvicorn"]), ("worker", ["backburner", "worker"])):
        matching = [shlex.split(line) for line in lines if shlex.split(line)[: len(start)] == start]
        assert len(matching) == 1, f"the README should give one `{' '.join(start)}` command"
        found[name] = matching[0]
    return found


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """`command` run from EXAMPLE in a process group of its own, SIGTERMed at the end, then
    SIGKILLed with its children if it has not exited."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=EXAMPLE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def get_json(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        found: dict[str, Any] = json.load(answer)
        return found


def test_the_readme_commands_serve_the_app_and_run_its_jobs(tmp_path: Path) -> None:
    commands = readme_commands()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKBURNER_", "UVICORN_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(SRC)
    env["BACKBURNER_URL"] = f"sqlite:///{tmp_path}/jobs.db"
    env["UVICORN_PORT"] = str(port)  # uvicorn reads its options from UVICORN_* too
    with ExitStack() as stack:
        stack.enter_context(running(commands["web"], env, tmp_path / "web.log"))
        stack.enter_context(running(commands["worker"], env, tmp_path / "worker.log"))
        wait_until(lambda: port_open("127.0.0.1", port), 30)
        base = f"http://127.0.0.1:{port}"
        job = get_json(f"{base}/reports", {"user_id": 7, "days": 3})
        url = base + job["status_url"]
        wait_until(lambda: get_json(url)["status"] == "succeeded", 30)
        assert get_json(url)["result"] == {"user_id": 7, "days": 3, "total": 7 + 8 + 9}
    assert "tasks reports.jobs.build_report" in (tmp_path / "worker.log").read_text()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in (tmp_path / "web.log").read_text()


def test_the_guide_gives_the_readme_commands() -> None:
    guide = GUIDE.read_text()
    for command in readme_commands().values():
        assert shlex.join(command) in guide
