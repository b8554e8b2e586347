"""A worker told to stop while idle stops at once, on every store: its threads waiting
for work are woken by the stop, not by the end of their idle wait (IDLE_WAIT)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner

from . import workerapp
from .helpers import SERVER_STORES, Start, child_pids, server_store_url, wait_until


@pytest.fixture(params=SERVER_STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = server_store_url(request, tmp_path)
    if url.startswith("redis"):  # a BLPOP may then block as long as the idle wait
        url += ("&" if "?" in url else "?") + "socket_timeout=120"
    return url


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = workerapp.build(url)
    yield app
    app.close()


def test_an_idle_worker_stops_well_within_its_idle_wait(
    bb: Backburner, url: str, start: Start
) -> None:
    # idleapp: its threads wait 30 s for work. No job, and a long lease: no write to the
    # store (history, heartbeat) wakes them meanwhile
    worker = start(url, "-p", "2", "--threads", "2", "--lease", "300", app="idleapp:bb")
    wait_until(lambda: bb.store.list_workers(alive_since=0), timeout=30)
    wait_until(lambda: len(child_pids(worker.pid)) == 2, timeout=30)
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0, worker.log()  # not after the idle wait's 30 s
    assert "stopped" in worker.log()
