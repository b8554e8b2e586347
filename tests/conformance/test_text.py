"""Text no store can keep as it is (a lone surrogate, a NUL) is stored escaped, on every
backend, so the outcome of the attempt that produced it is never lost; nor is it lost when
the attempt's last progress cannot be written at all."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from backburner import Backburner, JobStatus, context, current_job, policy
from backburner.context import JobContext
from backburner.stores import Store
from backburner.testing import drain

from .records import make

LEASE = 30.0
# a non-UTF-8 file name decoded with surrogateescape, and a NUL
BAD = "bad \udcff name\x00end"
ESCAPED = "bad \\udcff name\\x00end"


@pytest.fixture
def bb(store_url: str) -> Iterator[Backburner]:
    app = Backburner(store_url)
    yield app
    app.close()


def test_an_error_with_a_lone_surrogate_or_a_nul_is_recorded_escaped(store: Store) -> None:
    store.enqueue([make(max_attempts=1)])
    [job] = store.claim(None, "w", 1, LEASE)
    ending = policy.failed(job.id, job.token, f"ValueError: {BAD}", None)
    assert store.end_attempts([ending]) == [JobStatus.FAILED]
    got = store.get(job.id)
    assert got is not None and got.error == f"ValueError: {ESCAPED}"
    assert [f.error for f in got.failures] == [f"ValueError: {ESCAPED}"]


def test_a_progress_message_with_a_lone_surrogate_or_a_nul_is_stored_escaped(
    store: Store,
) -> None:
    store.enqueue([make()])
    [job] = store.claim(None, "w", 1, LEASE)
    JobContext(store, job.id, job.token, job.attempts, job.task).set_progress(1, 2, BAD)
    got = store.get(job.id)
    assert got is not None and got.progress == {"done": 1, "total": 2, "message": ESCAPED}


def test_a_task_raising_unstorable_text_fails_with_its_own_error(bb: Backburner) -> None:
    @bb.task(retries=0)
    def open_file() -> None:
        raise ValueError(BAD)

    job = open_file.delay()
    drain(bb)
    got = job.refresh()
    assert got.status is JobStatus.FAILED and got.attempts == 1
    assert (got.error or "").startswith(f"ValueError: {ESCAPED}\n")


def test_a_task_that_reported_unstorable_progress_still_succeeds(bb: Backburner) -> None:
    @bb.task(retries=0)
    def report() -> str:
        current_job.set_progress(1, 1, BAD)
        return BAD

    job = report.delay()
    drain(bb)
    got = job.refresh()
    assert got.status is JobStatus.SUCCEEDED and got.result == BAD
    assert got.progress == {"done": 1, "total": 1, "message": ESCAPED}


def test_an_outcome_is_recorded_when_the_last_progress_cannot_be_written(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(context, "PROGRESS_INTERVAL", float("inf"))  # written at the end only

    def refuse(job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        raise RuntimeError("the store refused the progress")

    monkeypatch.setattr(bb.store, "set_progress", refuse)

    @bb.task(retries=0)
    def half_done() -> str:
        current_job.set_progress(1, 2, "half")
        return "done"

    job = half_done.delay()
    with caplog.at_level(logging.ERROR, "backburner.worker"):
        drain(bb)
    got = job.refresh()
    assert (got.status, got.result) == (JobStatus.SUCCEEDED, "done")
    assert "could not store its last progress" in caplog.text
