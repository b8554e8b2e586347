"""The outcome history a real worker keeps in the store: every attempt's outcome counted
per minute and queue (succeeded, retried, failed, lapsed ones included), written every
few seconds and when the worker stops, summed across workers."""

from __future__ import annotations

import logging
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner
from backburner.stores import HistoryPoint, open_store
from backburner.worker import history
from backburner.worker.history import OutcomeHistory
from backburner.worker.quiet import Quietly

from . import workerapp
from .helpers import SERVER_STORES, Start, server_store_url, wait_until


@pytest.fixture(params=SERVER_STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return server_store_url(request, tmp_path)


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = workerapp.build(url)
    yield app
    app.close()


def totals(points: list[HistoryPoint]) -> Counter[tuple[str, str]]:
    """The counts per (queue, outcome), all minutes added up."""
    out: Counter[tuple[str, str]] = Counter()
    for p in points:
        assert p.minute % 60 == 0
        out[p.queue, p.outcome] += p.count
    return out


def test_a_worker_records_every_outcome_per_queue(bb: Backburner, url: str, start: Start) -> None:
    worker = start(url, "-p", "1", "-q", "default,other")
    # kills its process each time: the supervisor ends the attempt, 2 retries then failed.
    # Alone, so no other job dies with its process (and runs again, counted retried).
    suicide = bb.tasks["suicide"].options(queue="other").delay()
    wait_until(lambda: suicide.refresh().status.finished, timeout=60)
    jobs = [bb.tasks["noop"].delay() for _ in range(3)]
    jobs.append(bb.tasks["flaky"].delay(1))  # fails once, then succeeds
    jobs.append(bb.tasks["bad_text"].options(queue="other").delay())  # fails for good
    wait_until(lambda: all(j.refresh().status.finished for j in jobs), timeout=60)
    worker.signal(signal.SIGTERM)  # the counts not written yet are written as it stops
    assert worker.wait(60) == 0, worker.log()
    assert totals(bb.store.history(0)) == {
        ("default", "succeeded"): 4,
        ("default", "retried"): 1,
        ("other", "failed"): 2,
        ("other", "retried"): 2,
    }


def test_history_is_written_while_the_worker_runs(
    bb: Backburner, url: str, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("one store is enough: the flush is the supervisor's, not the store's")
    start(url, "-p", "1")
    bb.tasks["noop"].delay()
    # written within FLUSH_EVERY (10 s) of the job, without stopping the worker
    points = wait_until(lambda: bb.store.history(0), timeout=history.FLUSH_EVERY + 20)
    assert totals(points) == {("default", "succeeded"): 1}


class Refusing:
    """A store whose history writes fail until told otherwise."""

    def __init__(self) -> None:
        self.store = open_store("memory://")
        self.up = False

    def add_history(self, counts: dict[tuple[float, str, str], int]) -> None:
        if not self.up:
            raise ConnectionError("store down")
        self.store.add_history(counts)

    def prune_history(self, before: float) -> int:
        return self.store.prune_history(before)


def test_counts_a_failed_write_keeps_are_written_next_time() -> None:
    store = Refusing()
    kept = OutcomeHistory()
    quietly = Quietly(logging.getLogger("test"))
    kept.count("q", "succeeded")
    kept.flush(store, quietly, now=0.0, force=True)  # type: ignore[arg-type]
    assert store.store.history(0) == []
    kept.count("q", "succeeded")
    kept.flush(store, quietly, now=1.0)  # type: ignore[arg-type]  # not due yet
    store.up = True
    kept.flush(store, quietly, now=history.FLUSH_EVERY + 1)  # type: ignore[arg-type]
    assert totals(store.store.history(0)) == {("q", "succeeded"): 2}
    assert kept.counts == {}
