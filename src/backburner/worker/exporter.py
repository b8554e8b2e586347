"""A worker's Prometheus endpoint (`--metrics-port`): the supervisor counts every attempt
of the whole worker tree and serves the counts, with the store gauges if asked.

The children report each attempt they ran in the message that already tells the
supervisor it finished (`messages.Ran`); the attempts no child could report (a child that
died or overran its timeout, a lease that lapsed and was rescued here) are counted by the
supervisor itself. See `backburner.metrics` for the names.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import metrics
from ..job import JobRecord, JobStatus
from .messages import Ran

if TYPE_CHECKING:
    from ..app import Backburner
    from .supervisor import WorkerConfig

log = logging.getLogger("backburner.worker")


class Exporter:
    """The supervisor's counters and their HTTP server."""

    def __init__(self, bb: Backburner, config: WorkerConfig) -> None:
        assert config.metrics_port is not None
        self.jobs = metrics.JobMetrics()
        if config.store_metrics:
            self.jobs.registry.register(metrics.StoreCollector(bb))
        self.server = metrics.serve(self.jobs.registry, config.metrics_host, config.metrics_port)
        log.info("metrics at http://%s:%d/metrics", config.metrics_host, self.server.port)

    def ran(self, event: Ran) -> None:
        """An attempt a child ran and reported."""
        self.jobs.ended(event.task, event.queue, event.outcome, event.duration)

    def ended(self, record: JobRecord | None, status: JobStatus | None, lapsed: bool) -> None:
        """An attempt the supervisor ended: that of a dead child (`status`: what it left
        the job in; None if the store refused) or a lapsed lease it rescued."""
        if record is None or status is None:
            return
        outcome = metrics.LAPSED if lapsed else metrics.OUTCOME_OF.get(status)
        if outcome is not None:
            self.jobs.ended(record.task, record.queue, outcome)


def start(bb: Backburner, config: WorkerConfig) -> Exporter | None:
    """The exporter `config` asks for, serving already; None without --metrics-port."""
    return None if config.metrics_port is None else Exporter(bb, config)
