"""Prometheus metrics: what the workers did, and what the store holds now.

Two sources, served in Prometheus's text format (needs the `metrics` extra,
prometheus-client):

- `JobMetrics`, in a worker's supervisor (`backburner worker --metrics-port`): counters and
  a histogram of the attempts its children ran. The children report each attempt to the
  supervisor in the message they already send it (`worker.messages.Ran`), so the counts
  live in one long-lived process: they survive a child's restart, need no shared folder,
  and cost a process nothing when metrics are off.
- `StoreCollector`, read at each scrape from `Store.stats()` (`backburner metrics`,
  `--store-metrics`, `bb.metrics_view()` in Flask): jobs waiting per queue, the age of
  the oldest, and the live workers.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import BackburnerError, MissingExtra
from .job import JobStatus

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from .app import Backburner

# Attempts that ended: the values of the `outcome` label of backburner_jobs_total.
SUCCEEDED, RETRIED, FAILED, CANCELLED, LAPSED = (
    "succeeded",
    "retried",
    "failed",
    "cancelled",
    "lapsed",
)
OUTCOME_OF = {  # the status an attempt left its job in -> its outcome
    JobStatus.SUCCEEDED: SUCCEEDED,
    JobStatus.QUEUED: RETRIED,
    JobStatus.SCHEDULED: RETRIED,
    JobStatus.FAILED: FAILED,
    JobStatus.CANCELLED: CANCELLED,
}
# 5 ms to 15 min: from a no-op job to the longest that usually belong in a job queue
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900)
STATUSES = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.RUNNING, JobStatus.WAITING)  # gauged
ALIVE = 3  # a worker is live while its last heartbeat is within this many leases


def prometheus() -> Any:
    """The prometheus_client module, or MissingExtra saying how to install it."""
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingExtra(
            f"metrics need the metrics extra: pip install 'backburner[metrics]' ({exc})"
        ) from exc
    return prometheus_client


class JobMetrics:
    """backburner_jobs_total{task,queue,outcome} and
    backburner_job_duration_seconds{task,queue}, in a registry of their own.

    Counted in plain dicts and turned into metric families at each scrape: the supervisor
    counts every attempt of its children, and prometheus-client's Counter and Histogram
    cost about 2 us an attempt (label lookup, a lock per series), this under 1 (measured)."""

    def __init__(self) -> None:
        client = prometheus()
        self.registry: CollectorRegistry = client.CollectorRegistry()
        self._lock = threading.Lock()  # scrapes read from the HTTP server's thread
        self._counts: dict[tuple[str, str, str], int] = {}
        # per (task, queue): an attempt count per bucket (the last: above every bound), sum
        self._timings: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self.registry.register(self)

    def ended(self, task: str, queue: str, outcome: str, duration: float | None = None) -> None:
        """Count one attempt; `duration` None: not timed (its process died, say)."""
        key = (task, queue, outcome)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            if duration is None:
                return
            timing = self._timings.get(key[:2])
            if timing is None:
                timing = self._timings[key[:2]] = ([0] * (len(BUCKETS) + 1), [0.0])
            timing[0][bisect.bisect_left(BUCKETS, duration)] += 1
            timing[1][0] += duration

    def collect(self) -> Iterator[Any]:
        """The two families, as a scrape reads them (prometheus-client's Collector)."""
        core = prometheus().metrics_core
        with self._lock:
            counts = list(self._counts.items())
            timings = [(k, list(b), s[0]) for k, (b, s) in self._timings.items()]
        jobs = core.CounterMetricFamily(
            "backburner_jobs",
            "Attempts that ended, by outcome: succeeded, retried (failed, will run again), "
            "failed (for good), cancelled, lapsed (its worker vanished; rescued).",
            labels=["task", "queue", "outcome"],
        )
        for labels, n in sorted(counts):
            jobs.add_metric(list(labels), n)
        duration = core.HistogramMetricFamily(
            "backburner_job_duration_seconds",
            "Run time of the attempts that returned or raised.",
            labels=["task", "queue"],
        )
        bounds = [*(str(float(b)) for b in BUCKETS), "+Inf"]
        for series, buckets, total in sorted(timings):
            cumulative = list(itertools.accumulate(buckets))
            duration.add_metric(list(series), list(zip(bounds, cumulative)), total)
        return iter((jobs, duration))


class MisfireCollector:
    """backburner_periodic_misfires_total{schedule}: the ticks this worker's scheduler
    recorded as missed (each misfire is stored by one scheduler only, so the sum over
    workers is exact). Every schedule the app defines has a series, at 0 until one misses."""

    def __init__(self, misfires: Mapping[str, int], schedules: Callable[[], Iterable[str]]):
        self._misfires = misfires  # updated by the scheduler thread
        self._schedules = schedules

    def collect(self) -> Iterator[Any]:
        family = prometheus().metrics_core.CounterMetricFamily(
            "backburner_periodic_misfires",
            "Ticks of a periodic schedule that ran no job: missed while no worker ran, "
            "or skipped by misfire= or overlap=False.",
            labels=["schedule"],
        )
        counts = dict(self._misfires)  # one C-level copy: the scheduler thread may add
        for name in sorted(set(self._schedules()) | counts.keys()):
            family.add_metric([name], counts.get(name, 0))
        return iter((family,))


class StoreCollector:
    """The store gauges, read from `bb.store.stats()` at each scrape:
    backburner_queue_jobs{queue,status} (queued: due now, scheduled, running, waiting),
    backburner_queue_oldest_age_seconds{queue} and backburner_workers. A queue seen once
    keeps its series, at 0, once it empties (so graphs fall to zero rather than stop)."""

    def __init__(self, bb: Backburner, clock: Callable[[], float] = time.time) -> None:
        self._bb = bb
        self._clock = clock
        self._seen: set[str] = set()

    def collect(self) -> Iterator[Any]:
        metrics = prometheus().metrics_core
        now = self._clock()
        stats = self._bb.store.stats(now, now - ALIVE * self._bb.settings.lease)
        self._seen |= stats.jobs.keys()
        jobs = metrics.GaugeMetricFamily(
            "backburner_queue_jobs",
            "Pending jobs per queue: queued (due now), scheduled (due later), running, "
            "waiting (held by dependencies).",
            labels=["queue", "status"],
        )
        age = metrics.GaugeMetricFamily(
            "backburner_queue_oldest_age_seconds",
            "How long the oldest due job still queued has waited (0: none waits).",
            labels=["queue"],
        )
        for queue in sorted(self._seen):
            counts = stats.jobs.get(queue, {})
            for status in STATUSES:
                jobs.add_metric([queue, status.value], counts.get(status, 0))
            due = stats.oldest_due.get(queue)
            age.add_metric([queue], max(0.0, now - due) if due is not None else 0.0)
        workers = metrics.GaugeMetricFamily(
            "backburner_workers", "Live workers (a heartbeat within 3 leases)."
        )
        workers.add_metric([], stats.workers)
        return iter((jobs, age, workers))


def store_registry(bb: Backburner) -> CollectorRegistry:
    """A registry holding the store gauges of `bb`."""
    registry: CollectorRegistry = prometheus().CollectorRegistry()
    registry.register(StoreCollector(bb))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition of `registry`, and its content type."""
    client = prometheus()
    return client.generate_latest(registry), str(client.CONTENT_TYPE_LATEST)


class Server:
    """A metrics endpoint serving from a daemon thread (see `serve`)."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose, when asked for port 0)."""
        return int(self._server.server_port)

    def fileno(self) -> int:
        """Its listening socket, which a forked child should close."""
        return int(self._server.socket.fileno())

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve(registry: CollectorRegistry, host: str, port: int) -> Server:
    """Serve `registry` at http://host:port/metrics from a daemon thread. BackburnerError
    if the port cannot be bound."""
    client = prometheus()
    try:
        server, thread = client.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise BackburnerError(
            f"cannot serve metrics on {host}:{port}: {exc}; choose another port "
            "(--metrics-port, --port)"
        ) from exc
    return Server(server, thread)
