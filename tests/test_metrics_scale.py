"""The store gauges stay cheap to scrape with many jobs queued (SQLite and PostgreSQL)."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner
from backburner.job import JobRecord
from backburner.metrics import render, store_registry

QUEUED = 100_000
BATCH = 5_000  # jobs per enqueue() call


@pytest.fixture(params=["sqlite", "postgres"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/jobs.db"
    else:
        url = str(request.getfixturevalue("postgres_store_url"))
    app = Backburner(url)
    yield app
    app.close()


@pytest.mark.slow
def test_scraping_the_store_gauges_with_100k_jobs_queued_takes_under_50ms(
    bb: Backburner,
) -> None:
    now = time.time()
    for start in range(0, QUEUED, BATCH):
        bb.store.enqueue(
            [
                JobRecord(
                    id=uuid.uuid4().hex,
                    task="t",
                    queue=f"q{i % 4}",
                    priority=i % 3,
                    run_at=now - i / 1000 if i % 10 else now + 3600,
                    created_at=now,
                )
                for i in range(start, start + BATCH)
            ]
        )
    registry = store_registry(bb)
    render(registry)  # the first scrape opens the connection
    took = []
    for _ in range(7):
        began = time.perf_counter()
        text = render(registry)[0].decode()
        took.append(time.perf_counter() - began)
    assert 'backburner_queue_jobs{queue="q1",status="queued"} 25000.0' in text
    assert 'backburner_queue_jobs{queue="q0",status="scheduled"} 5000.0' in text
    print(f"median scrape: {statistics.median(took) * 1000:.1f} ms")
    assert statistics.median(took) < 0.050
