"""The supervisor's upkeep (heartbeat, rescue, prune) survives any store error."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from backburner import Backburner
from backburner.errors import StoreUnavailable
from backburner.worker.supervisor import Supervisor, WorkerConfig


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    sup = Supervisor(Backburner("memory://"), WorkerConfig(processes=1))
    yield sup
    os.close(sup._wake_r)
    os.close(sup._wake_w)


class ServerRefused(Exception):
    """What a driver raises that is no BackburnerError, e.g. a Redis ResponseError."""


def test_a_failing_prune_is_logged_once_with_its_traceback_and_tried_every_tick(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    def prune(now: float) -> int:
        calls.append(now)
        raise ServerRefused("OOM command not allowed when used memory > 'maxmemory'")

    monkeypatch.setattr(supervisor.bb.store, "prune", prune)
    with caplog.at_level(logging.DEBUG, logger="backburner.worker"):
        for _ in range(3):
            supervisor._tick()
            supervisor.expiry.join()
    assert len(calls) == 3  # not held back PRUNE_EVERY seconds after a failure
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "prune" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None and warnings[0].exc_info[0] is ServerRefused
    monkeypatch.undo()
    supervisor._tick()  # the store answers again: pruning resumes its own pace
    supervisor.expiry.join()
    assert supervisor.expiry.next_at > 0


def test_an_outage_in_every_upkeep_call_is_not_fatal(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("record_worker", "rescue_lapsed", "prune"):
        monkeypatch.setattr(supervisor.bb.store, name, _unreachable(name))
    with caplog.at_level(logging.WARNING, logger="backburner.worker"):
        for _ in range(2):
            supervisor._tick()
            supervisor.expiry.join()
    assert len(caplog.records) == 3  # one per call, without a traceback: it is an outage
    assert not any(r.exc_info for r in caplog.records)


def test_a_long_prune_holds_back_no_tick_and_runs_once_at_a_time(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, calls = threading.Event(), []
    heartbeats: list[float] = []

    def prune(now: float) -> int:  # a million expired jobs: minutes of chunks
        calls.append(now)
        release.wait(30)
        return 1_000_000

    monkeypatch.setattr(supervisor.bb.store, "prune", prune)
    monkeypatch.setattr(supervisor.bb.store, "record_worker", lambda info: heartbeats.append(1))
    for _ in range(3):
        supervisor._tick()  # returns while the prune runs: leases keep their heartbeats
    assert len(heartbeats) == 3 and len(calls) == 1 and supervisor.expiry.running()
    release.set()
    supervisor.expiry.join()
    assert not supervisor.expiry.running() and supervisor.expiry.next_at > time.monotonic()
    supervisor._tick()
    assert len(calls) == 1  # the next one waits PRUNE_EVERY


def _unreachable(name: str) -> Callable[..., None]:
    def call(*args: object) -> None:
        raise StoreUnavailable("cannot reach the store")

    call.__name__ = name
    return call
