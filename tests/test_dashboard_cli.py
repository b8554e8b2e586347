"""`backburner dashboard APP` (issue 19): serves the pages for any app, on loopback by
default, with basic auth from the environment, read-only on demand."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backburner import Backburner
from backburner.cli import main
from backburner.dashboard import standalone_app
from backburner.dashboard.guard import basic_auth

from .dashboardapp import register
from .helpers import SRC, TESTS, wait_until


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Backburner]]:
    """`backburner dashboard tests.dashboardapp:bb --port 0` on a SQLite store with a
    job in it; its URL, and a Backburner on the same store. Killed by PID at the end."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    bb = Backburner(url)
    register(bb)
    env = {**os.environ, "BACKBURNER_URL": url, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}
    env.pop("BACKBURNER_DASHBOARD_USER", None)
    env.pop("BACKBURNER_DASHBOARD_PASSWORD", None)
    command = [sys.executable, "-m", "backburner", "dashboard", "tests.dashboardapp:bb"]
    process = subprocess.Popen(
        [*command, "--port", "0"],
        cwd=TESTS.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "backburner dashboard on http://127.0.0.1:PORT/ ..."
        assert "http://127.0.0.1:" in line, line
        yield line.split()[3], bb
    finally:
        process.kill()
        process.wait(timeout=30)
        bb.close()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_command_serves_the_pages_of_the_apps_store(served: tuple[str, Backburner]) -> None:
    base, bb = served
    job = bb.tasks["mail.send"].delay("a@example.com", "hello")
    status, html = wait_until(lambda: fetch(base + "jobs"))
    assert status == 200 and job.id in html
    assert fetch(f"{base}jobs/{job.id}")[0] == 200
    assert fetch(base + "static/dashboard.css")[0] == 200


def test_a_host_other_machines_reach_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKBURNER_DASHBOARD_USER", raising=False)
    monkeypatch.delenv("BACKBURNER_DASHBOARD_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["dashboard", "tests.dashboardapp:bb", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "BACKBURNER_DASHBOARD_USER" in result.output and "127.0.0.1" in result.output
    monkeypatch.setenv("BACKBURNER_DASHBOARD_USER", "ops")
    result = CliRunner().invoke(main, ["dashboard", "tests.dashboardapp:bb"])
    assert result.exit_code != 0 and "set both" in result.output


def test_a_port_in_use_is_a_message_not_a_traceback(served: tuple[str, Backburner]) -> None:
    port = served[0].rstrip("/").rsplit(":", 1)[1]
    result = CliRunner().invoke(main, ["dashboard", "tests.dashboardapp:bb", "--port", port])
    assert result.exit_code == 1 and f"Port {port} is in use" in result.output  # werkzeug says


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_lets_in_who_gives_the_credentials() -> None:
    bb = Backburner("memory://")
    register(bb)
    client = standalone_app(bb, access=basic_auth("ops", "s3cret")).test_client()
    far = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/", environ_base=far)
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    assert client.get("/", headers=auth_header("ops", "wrong"), environ_base=far).status_code == 401
    assert (
        client.get("/", headers=auth_header("ops", "s3cret"), environ_base=far).status_code == 200
    )
    response = client.post(
        "/queues/pause",
        data={"queue": "mail"},
        headers={**auth_header("ops", "s3cret"), "Sec-Fetch-Site": "same-origin"},
        environ_base=far,
    )
    assert response.status_code == 303
    assert bb.store.audit_log()[0].actor == "ops"


def test_read_only_refuses_every_action() -> None:
    bb = Backburner("memory://")
    register(bb)
    client = standalone_app(bb, read_only=True).test_client()
    page = client.get("/queues").get_data(as_text=True)
    assert 'data-testid="read-only"' in page and "action-pause" not in page
    response = client.post(
        "/queues/pause", data={"queue": "mail"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 403 and bb.paused() == set()
