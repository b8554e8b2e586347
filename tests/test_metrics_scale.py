"""The store gauges stay cheap to scrape with many jobs queued (SQLite and PostgreSQL)."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backburner import Backburner
from backburner.job import JobRecord
from backburner.metrics import render, store_registry
from backburner.stores.sql_stats import EXACT_UP_TO

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


def settle(bb: Backburner) -> None:
    """What autovacuum does soon after a bulk insert, done now rather than while the
    scrapes are timed (on a small machine it takes the CPU they need for a few seconds)."""
    schema = getattr(bb.store, "schema", None)
    if schema is None:
        return
    import psycopg

    with psycopg.connect(bb.url.split("?")[0], autocommit=True) as conn:
        conn.execute(f'VACUUM ANALYZE "{schema}".bb_jobs')


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
    settle(bb)
    registry = store_registry(bb)
    render(registry)  # the first scrape opens the connection
    took = []
    for _ in range(11):
        began = time.perf_counter()
        text = render(registry)[0].decode()
        took.append(time.perf_counter() - began)
    gauges = {
        (s.labels["queue"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "backburner_queue_jobs"
    }
    assert gauges[("q0", "scheduled")] == 5000  # under EXACT_UP_TO: counted
    if bb.url.startswith("sqlite"):  # SQLite counts them all
        assert gauges[("q1", "queued")] == 25_000 and gauges[("q0", "queued")] == 20_000
    else:  # PostgreSQL estimates beyond EXACT_UP_TO per queue, from the planner's statistics
        assert EXACT_UP_TO < 25_000
        assert gauges[("q1", "queued")] == pytest.approx(25_000, rel=0.15)
        assert gauges[("q0", "queued")] == pytest.approx(20_000, rel=0.2)
    print(f"median scrape: {statistics.median(took) * 1000:.1f} ms")
    assert statistics.median(took) < 0.050
