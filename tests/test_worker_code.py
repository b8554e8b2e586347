"""Workers and the code they run: tasks they do not know, reloads, async tasks."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobStatus, policy
from backburner.job import JobRecord
from backburner.worker.runner import Outcome, record_outcome

from . import workerapp
from .helpers import WorkerProcess, wait_until, worker_processes


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = workerapp.build(url)
    yield app
    app.close()


def _record(bb: Backburner, job_id: str) -> JobRecord:
    record = bb.store.get(job_id)
    assert record is not None
    return record


def _handed_back(bb: Backburner, job_id: str) -> JobRecord | None:
    record = _record(bb, job_id)
    return record if record.error else None


def test_a_worker_that_lacks_a_task_hands_its_job_to_one_that_knows_it(
    bb: Backburner, url: str, tmp_path: Path
) -> None:
    job = bb.tasks["pid"].delay()
    with worker_processes(tmp_path) as start:
        lacking: WorkerProcess = start(url, "-p", "1", app="workerapp:without_pid()")
        waiting = wait_until(lambda: _handed_back(bb, job.id), timeout=30)
        assert waiting is not None
        assert waiting.status is JobStatus.SCHEDULED and waiting.attempts == 0
        assert waiting.failures == () and "UnknownTask: not run" in (waiting.error or "")
        assert waiting.run_at >= waiting.created_at + policy.UNKNOWN_TASK_WAIT
        start(url, "-p", "1")
        wait_until(lambda: _record(bb, job.id).status is JobStatus.SUCCEEDED, timeout=30)
    done = _record(bb, job.id)
    assert done.attempts == 1 and done.failures == ()
    assert lacking.log().count("is not registered in this worker") == 1


def test_a_worker_warns_once_per_unknown_task_name(
    bb: Backburner, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = Outcome(False, error="task 'gone' is not registered", unknown_task=True)
    warned: set[str] = set()
    for _ in range(3):
        bb.store.enqueue([JobRecord(id=f"j{_}", task="gone", run_at=0.0, created_at=0.0)])
        [claimed] = bb.store.claim(None, "w", 1, 30.0)
        with caplog.at_level(logging.DEBUG, logger="backburner.worker"):
            assert record_outcome(bb, claimed, outcome, warned=warned)
    levels = [r.levelno for r in caplog.records if "not registered" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_async_tasks_in_a_worker_see_cancel_report_progress_and_time_out(
    bb: Backburner, url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    waiting = bb.tasks["async_until_cancelled"].delay(str(marker))
    with worker_processes(tmp_path) as start:
        start(url, "-p", "1")
        wait_until(lambda: _record(bb, waiting.id).progress, timeout=30)
        assert waiting.cancel() is False  # running: asked to stop
        wait_until(lambda: _record(bb, waiting.id).status is JobStatus.CANCELLED, timeout=30)
        slow = bb.tasks["async_too_slow"].delay()
        wait_until(lambda: _record(bb, slow.id).status is JobStatus.FAILED, timeout=30)
    assert marker.read_text() == "started"
    assert (_record(bb, slow.id).error or "").startswith("JobTimeout")


# -- reloading -------------------------------------------------------------------------
RELOADAPP = """\
import os
import time
from pathlib import Path

from backburner import Backburner

bb = Backburner()
VERSION = {version}


@bb.task(name="version")
def version() -> int:
    return VERSION


@bb.task(name="hold")
def hold(marker: str, release: str) -> int:
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return VERSION
"""


def _write_app(folder: Path, version: int) -> None:
    # each version has another length, so no stale bytecode can pass for the new source
    (folder / "reloadapp.py").write_text(RELOADAPP.format(version=f"{version}{' ' * version}"))


def _client(url: str) -> Backburner:
    """A Backburner on the worker's store that knows the reload app's task names."""
    client = Backburner(url)

    def version() -> int:
        raise NotImplementedError("runs in the worker")

    def hold(marker: str, release: str) -> int:
        raise NotImplementedError("runs in the worker")

    client.task(name="version")(version)
    client.task(name="hold")(hold)
    return client


def _result(client: Backburner, job_id: str) -> object:
    record = _record(client, job_id)
    return record.status is JobStatus.SUCCEEDED and client.get_job(job_id).result  # type: ignore[union-attr]


def test_sighup_replaces_children_with_new_code_after_their_jobs_finish(
    url: str, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    _write_app(app, 1)
    client = _client(url)
    marker, release = tmp_path / "marker", tmp_path / "release"
    with worker_processes(tmp_path) as start:
        worker = start(url, "-p", "1", app="reloadapp:bb", cwd=app)
        held = client.tasks["hold"].delay(str(marker), str(release))
        wait_until(marker.exists, timeout=30)
        _write_app(app, 2)
        worker.signal(signal.SIGHUP)
        wait_until(lambda: "reload (SIGHUP)" in worker.log(), timeout=30)
        fresh = client.tasks["version"].delay()
        assert wait_until(lambda: _result(client, fresh.id), timeout=30) == 2
        assert _record(client, held.id).status is JobStatus.RUNNING  # finishing first
        release.write_text("")
        assert wait_until(lambda: _result(client, held.id), timeout=30) == 1  # its old code
        wait_until(lambda: "reload done" in worker.log(), timeout=30)
        assert worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finished = _record(client, held.id)
    assert finished.attempts == 1 and finished.failures == ()
    assert client.store.list_workers(alive_since=0) == []
    client.close()


def test_reload_restarts_children_when_a_source_file_changes(url: str, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    _write_app(app, 1)
    client = _client(url)
    with worker_processes(tmp_path) as start:
        worker = start(url, "-p", "2", "--reload", app="reloadapp:bb", cwd=app)
        first = client.tasks["version"].delay()
        assert wait_until(lambda: _result(client, first.id), timeout=30) == 1
        _write_app(app, 2)
        wait_until(lambda: "reload done" in worker.log(), timeout=30)
        assert "reload (reloadapp.py changed)" in worker.log()
        later = [client.tasks["version"].delay() for _ in range(4)]
        for job in later:
            assert wait_until(lambda: _result(client, job.id), timeout=30) == 2  # noqa: B023
    client.close()
