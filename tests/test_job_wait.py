"""`job.wait()` timing out says whether any live worker serves the job's queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner
from backburner.stores import WorkerInfo


@pytest.fixture
def bb(tmp_path: Path) -> Iterator[Backburner]:
    app = Backburner(f"sqlite:///{tmp_path}/jobs.db")
    yield app
    app.close()


def worker(bb: Backburner, name: str, queues: tuple[str, ...], age: float = 0.0) -> None:
    now = time.time() - age
    bb.store.record_worker(WorkerInfo(name, "host", 1, now, now, queues))


def timeout_message(bb: Backburner, queue: str) -> str:
    @bb.task(name=f"mail.{queue}", queue=queue)
    def send() -> None: ...

    job = send.delay()
    with pytest.raises(TimeoutError) as caught:
        job.wait(timeout=0.01)
    return str(caught.value)


def test_wait_says_when_no_live_worker_serves_the_queue(bb: Backburner) -> None:
    worker(bb, "busy-elsewhere", ("reports",))
    worker(bb, "long-dead", (), age=3600)
    message = timeout_message(bb, "emails")
    assert "still queued after 0.01s" in message
    assert "no live worker serves queue 'emails'" in message
    assert "backburner worker APP --queues emails" in message


@pytest.mark.parametrize("queues", [("emails", "reports"), ()])
def test_wait_says_when_a_live_worker_serves_the_queue(
    bb: Backburner, queues: tuple[str, ...]
) -> None:
    worker(bb, "w", queues)  # () serves every queue
    message = timeout_message(bb, "emails")
    assert "1 live worker(s) serve queue 'emails'" in message
    assert "no live worker" not in message
