"""Workers and the code they run: tasks they do not know, reloads, async tasks."""

from __future__ import annotations

import logging
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
