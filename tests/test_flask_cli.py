"""`flask backburner ...`: the operator commands inside a Flask app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask

from backburner.job import JobStatus
from backburner.testing import drain

from .test_flask import user_app

ZEROS = dict.fromkeys((s.value for s in JobStatus), 0)  # status --json lists every status


@pytest.fixture
def userapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield from user_app(tmp_path, monkeypatch)


def invoke(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["backburner", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def flask_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `flask` command, as a user types it, from the app's folder."""
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run(
        [str(flask), "--app", "userapp", "backburner", *args],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BACKBURNER_"))},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_group_has_the_operator_commands_without_app_and_without_demo(
    userapp: ModuleType,
) -> None:
    app = userapp.create_app()
    out = invoke(app, "--help")
    for command in ("worker", "status", "jobs", "show", "retry", "cancel", "purge"):
        assert command in out
    assert "demo" not in out
    assert "APP" not in invoke(app, "status", "--help")


def test_status_jobs_show_cancel_retry_purge_use_the_apps_store(userapp: ModuleType) -> None:
    app = userapp.create_app()
    done = userapp.whoami.delay("one")
    drain(userapp.bb)
    waiting = userapp.whoami.delay("two")

    status = json.loads(invoke(app, "status", "--json"))
    assert status["queues"] == {"default": {**ZEROS, "succeeded": 1, "queued": 1}}
    listed = json.loads(invoke(app, "jobs", "--json"))
    assert [j["id"] for j in listed] == [waiting.id, done.id]
    assert "marker" in invoke(app, "show", done.id), "the result is shown"

    assert f"{waiting.id}: cancelled" in invoke(app, "cancel", waiting.id)
    assert "1 job(s) queued again" in invoke(app, "retry", waiting.id)
    assert "1 job(s) deleted" in invoke(app, "purge")
    assert [j["id"] for j in json.loads(invoke(app, "jobs", "--json"))] == [waiting.id]


def test_a_command_selects_its_app_for_the_jobs_of_this_process(userapp: ModuleType) -> None:
    first = userapp.create_app({"MARKER": "first"})
    userapp.create_app({"MARKER": "second"})
    invoke(first, "status")  # as `flask --app first backburner worker` would
    job = userapp.whoami.delay("x")
    drain(userapp.bb)
    assert job.refresh().result["marker"] == "first"


def test_flask_backburner_worker_runs_jobs_in_the_app_context(
    userapp: ModuleType, tmp_path: Path
) -> None:
    app = userapp.create_app({"MARKER": "not the worker's"})
    jobs = [userapp.whoami.delay(f"note {i}") for i in range(3)]
    done = flask_cli(tmp_path, "worker", "--burst", "-p", "2")
    assert done.returncode == 0, done.stderr
    results = [j.refresh().result for j in jobs]
    assert [r and r["marker"] for r in results] == ["factory"] * 3, [j.error for j in jobs]
    with app.app_context():
        assert userapp.db.session.query(userapp.Note).count() == 3
    assert done.stderr.count("whoami running in app factory") == 3

    status = flask_cli(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["queues"] == {"default": {**ZEROS, "succeeded": 3}}


def test_flask_backburner_errors_are_one_clean_line(userapp: ModuleType, tmp_path: Path) -> None:
    userapp.create_app()
    done = flask_cli(tmp_path, "show", "no-such-job")
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: no job 'no-such-job' in this store"
