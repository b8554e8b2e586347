"""Prometheus metrics of real worker processes and of `backburner metrics`, scraped over
HTTP while jobs run, on every store a worker can share (memory:// lives in one process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backburner import Backburner
from backburner.job import FINISHED, JobStatus

from . import refusedapp, workerapp
from .helpers import (
    SERVER_STORES,
    SRC,
    TESTS,
    Start,
    server_store_url,
    wait_until,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(params=SERVER_STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return server_store_url(request, tmp_path)


@pytest.fixture
def bb(url: str) -> Iterator[Backburner]:
    app = workerapp.build(url)
    yield app
    app.close()


@pytest.fixture
def exporter(url: str, tmp_path: Path) -> Iterator[Callable[[], Samples]]:
    """`backburner metrics` running on the test's store; call it to scrape."""
    port = free_port()
    env = {"BACKBURNER_URL": url, "PYTHONPATH": f"{TESTS}:{SRC}", "PATH": "/usr/bin:/bin"}
    with open(tmp_path / "exporter.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backburner", "metrics", "workerapp:bb", "--port", str(port)],
            cwd=TESTS,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: reachable(port), timeout=20)
        yield lambda: scrape(port)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def scrape(port: int) -> Samples:
    """Every sample at http://127.0.0.1:port/metrics, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def queued(samples: Samples) -> float:
    return value(samples, "backburner_queue_jobs", queue="default", status="queued")


def oldest_age(samples: Samples) -> float:
    return value(samples, "backburner_queue_oldest_age_seconds", queue="default")


def scrape_until(scrape: Callable[[], Samples], ok: Callable[[Samples], bool]) -> Samples:
    """The first scrape that satisfies `ok` (within wait_until's deadline)."""

    def satisfied() -> Samples | None:
        samples = scrape()
        return samples if ok(samples) else None

    found = wait_until(satisfied)
    assert found is not None
    return found


def test_the_store_exporter_shows_jobs_waiting_and_the_oldest_ones_age(
    bb: Backburner, exporter: Callable[[], Samples], url: str, start: Start
) -> None:
    first = exporter()
    assert value(first, "backburner_workers") == 0
    for _ in range(3):
        bb.tasks["noop"].delay()
    bb.tasks["noop"].schedule(delay=3600)
    seen = scrape_until(exporter, lambda s: queued(s) == 3)
    assert value(seen, "backburner_queue_jobs", queue="default", status="scheduled") == 1
    age = oldest_age(seen)
    # no worker runs: the oldest job waits on, and its age grows
    wait_until(lambda: oldest_age(exporter()) > age + 0.2)
    start(url, "-p", "1")
    drained = scrape_until(exporter, lambda s: queued(s) == 0)
    assert oldest_age(drained) == 0  # the series stays, at zero, once the queue is drained
    assert value(drained, "backburner_queue_jobs", queue="default", status="scheduled") == 1
    wait_until(lambda: value(exporter(), "backburner_workers") == 1)


def test_a_workers_metrics_count_what_its_children_ran(
    bb: Backburner, url: str, start: Start, tmp_path: Path
) -> None:
    port = free_port()
    for _ in range(5):
        bb.tasks["noop"].delay()
    once = bb.tasks["flaky"].delay(1)  # one retry, then succeeds
    never = bb.tasks["flaky"].delay(99)  # 3 retries, then fails
    waiting = bb.tasks["until_cancelled"].delay(str(tmp_path / "started"))
    # a short lease: a cancel reaches a running job at the next heartbeat, every lease/3
    start(url, "-p", "2", "--lease", "3", "--metrics-port", str(port), "--store-metrics")
    wait_until(lambda: (tmp_path / "started").exists(), timeout=20)
    waiting.cancel()
    for job in (once, never, waiting):
        wait_until(lambda: job.refresh().status in FINISHED, timeout=20)  # noqa: B023

    def jobs(task: str, outcome: str) -> float:
        labels = {"task": task, "queue": "default", "outcome": outcome}
        return value(scrape(port), "backburner_jobs_total", **labels)

    # the supervisor reads its children's reports in batches: wait for the last one
    wait_until(lambda: jobs("noop", "succeeded") == 5 and jobs("flaky", "failed") == 1)
    samples = scrape(port)
    assert jobs("flaky", "succeeded") == 1
    assert jobs("flaky", "retried") == 4  # one for `once`, three for `never`
    assert jobs("until_cancelled", "cancelled") == 1
    count = "backburner_job_duration_seconds_count"
    assert value(samples, count, task="noop", queue="default") == 5
    assert value(samples, count, task="flaky", queue="default") == 6
    # the store gauges (--store-metrics) are served alongside
    assert queued(samples) == 0
    assert value(samples, "backburner_workers") == 1


def test_counts_survive_a_child_that_dies_and_its_attempt_is_counted(
    bb: Backburner, url: str, start: Start
) -> None:
    port = free_port()
    start(url, "-p", "1", "--metrics-port", str(port))
    before = bb.tasks["noop"].delay()
    before.wait(timeout=20)
    dies = bb.tasks["suicide"].delay()  # SIGKILLs its own child, every attempt
    wait_until(lambda: dies.refresh().status is JobStatus.FAILED, timeout=30)
    after = bb.tasks["noop"].delay()
    after.wait(timeout=20)

    def jobs(task: str, outcome: str) -> float:
        labels = {"task": task, "queue": "default", "outcome": outcome}
        return value(scrape(port), "backburner_jobs_total", **labels)

    wait_until(lambda: jobs("noop", "succeeded") == 2)  # the first survived the deaths
    assert (jobs("suicide", "retried"), jobs("suicide", "failed")) == (2, 1)


def test_a_worker_without_prometheus_client_says_what_to_install(
    start: Start, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "prometheus_client.py").write_text("raise ImportError('not installed')\n")
    worker = start(url, "--metrics-port", str(free_port()), cwd=blocker, app="workerapp:bb")
    assert worker.wait(30) == 1
    assert "pip install 'backburner[metrics]'" in worker.log()
    assert "Traceback" not in worker.log()


def test_the_metrics_port_is_refused_when_taken(start: Start, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = start(url, "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
        assert worker.wait(30) == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in worker.log()


def test_a_lapsed_lease_rescued_by_another_worker_is_counted_lapsed(
    start: Start, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    app = workerapp.build(url)
    marker = tmp_path / "pid"
    job = app.tasks["hang_first"].delay(str(marker))
    first = start(url, "-p", "1", "--lease", "1")
    wait_until(lambda: marker.exists() and marker.read_text().endswith(" 1"), timeout=20)
    first.kill_group()  # its lease lapses a second later, and no one reports the attempt
    port = free_port()
    start(url, "-p", "1", "--lease", "1", "--metrics-port", str(port))
    wait_until(lambda: job.refresh().status is JobStatus.SUCCEEDED, timeout=30)

    def jobs(outcome: str) -> float:
        labels = {"task": "hang_first", "queue": "default", "outcome": outcome}
        return value(scrape(port), "backburner_jobs_total", **labels)

    wait_until(lambda: jobs("succeeded") == 1)
    assert jobs("lapsed") == 1
    app.close()


def test_a_success_whose_completion_the_store_refused_is_not_counted_succeeded(
    start: Start, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    app = refusedapp.build(url)
    port = free_port()
    worker = start(url, "-p", "1", "--metrics-port", str(port), app="refusedapp:bb")
    refused = app.tasks["taken_over"].delay()
    wait_until(lambda: "lease lost" in worker.log(), timeout=20)
    app.tasks["quick"].delay().wait(timeout=20)

    def jobs(task: str) -> float:
        labels = {"task": task, "queue": "default", "outcome": "succeeded"}
        return value(scrape(port), "backburner_jobs_total", **labels)

    wait_until(lambda: jobs("quick") == 1)  # reported after the refused attempt was
    assert jobs("taken_over") == 0
    assert refused.refresh().status is not JobStatus.SUCCEEDED
    app.close()


def test_a_worker_counts_the_misfires_of_its_schedules(url: str, start: Start) -> None:
    port = free_port()
    start(url, "-p", "1", "--queues", "idle", "--metrics-port", str(port), app="misfireapp:bb")
    wait_until(lambda: reachable(port), timeout=20)
    name = "backburner_periodic_misfires_total"
    found = scrape_until(lambda: scrape(port), lambda s: value(s, name, schedule="no-overlap") >= 2)
    assert (name, frozenset({("schedule", "no-overlap")})) in found
    app = Backburner(url)
    try:  # the ticks that misfired stored nothing: one job, still queued
        assert app.store.counts() == {"default": {JobStatus.QUEUED: 1}}
    finally:
        app.close()
