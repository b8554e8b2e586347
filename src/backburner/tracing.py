"""OpenTelemetry spans (the `otel` extra): a PRODUCER span at `delay()` and a CONSUMER
span around each attempt, its child, through the trace context stored with the job.

Off, at the cost of one check per call, unless opentelemetry-api is installed and the
application set a tracer provider (`trace.set_tracer_provider(...)`, or the
opentelemetry-instrument launcher): backburner never configures one. The trace context is
kept in `JobRecord.trace_context` as the JSON of the configured propagator's carrier
(W3C `traceparent` by default), so any worker, on any machine, continues the trace.

In a worker, children are forked from the supervisor with the application's provider
already set; the SDK's span processors restart their export thread in the child, and
each child flushes its spans before it exits (`flush`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import JobRecord
    from .worker.runner import Outcome

SYSTEM = "backburner"
_api: Any = None  # opentelemetry.trace once imported; False when it is not installed
_provider_from_env = False  # the provider is named by the environment, not set by the app
# (provider, its tracer for backburner): the provider itself is kept and compared, as an
# id() of one that was replaced could be reused by the next
_tracer: tuple[Any, Any] = (None, None)


def _trace_api() -> Any:
    global _api, _provider_from_env
    if _api is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _api = False
        else:
            _provider_from_env = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
            _api = trace
    return _api


def active() -> Any:
    """The tracer to use now, or None when tracing is off (no opentelemetry installed, or
    no tracer provider set)."""
    api = _trace_api()
    if api is False:
        return None
    # The provider the app set; get_tracer_provider() would look the environment up on
    # every call (about 1 us) for OTEL_PYTHON_TRACER_PROVIDER, which is read once instead.
    provider = getattr(api, "_TRACER_PROVIDER", None)
    if provider is None:
        if not _provider_from_env:
            return None
        provider = api.get_tracer_provider()
    if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
        return None
    global _tracer
    cached, tracer = _tracer
    if cached is not provider:
        from . import __version__

        tracer = provider.get_tracer(SYSTEM, __version__)
        _tracer = (provider, tracer)
    return tracer


def _attributes(record: JobRecord, operation: str, kind: str) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": record.queue,
        "messaging.operation": operation,  # the older conventions' name for the type
        "messaging.operation.type": kind,
        "messaging.operation.name": operation,
        "messaging.message.id": record.id,
        "backburner.task": record.task,
    }


@contextmanager
def producing(tracer: Any, record: JobRecord) -> Iterator[JobRecord]:
    """A PRODUCER span "send <task>" around storing `record`; yields the record to store,
    carrying the span's context."""
    from opentelemetry import propagate

    attributes = _attributes(record, "publish", "send")
    kind = _api.SpanKind.PRODUCER
    with tracer.start_as_current_span(f"send {record.task}", kind=kind, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield replace(record, trace_context=json.dumps(carrier) if carrier else None)


@contextmanager
def producing_many(tracer: Any, records: list[JobRecord]) -> Iterator[list[JobRecord]]:
    """One PRODUCER span "send" around storing a batch (`enqueue_many`, `map`, `chain`,
    `group`), as the messaging conventions have it for a batch; yields the records to
    store, each carrying the span's context, so each job's CONSUMER span is its child."""
    from opentelemetry import propagate

    queues = sorted({r.queue for r in records})
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation": "publish",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.batch.message_count": len(records),
    }
    if len(queues) == 1:
        attributes["messaging.destination.name"] = queues[0]
    kind = _api.SpanKind.PRODUCER
    with tracer.start_as_current_span("send", kind=kind, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        context = json.dumps(carrier) if carrier else None
        yield [replace(r, trace_context=context) for r in records]


@contextmanager
def consuming(tracer: Any, record: JobRecord) -> Iterator[Any]:
    """A CONSUMER span "process <task>" around one attempt, the child of (and linked to)
    the producer's span when the job carries its context; yields the span."""
    from opentelemetry import propagate

    parent = None
    links = []
    if record.trace_context:
        try:
            carrier = json.loads(record.trace_context)
        except ValueError:
            carrier = {}
        parent = propagate.extract(carrier if isinstance(carrier, dict) else {})
        producer = _api.get_current_span(parent).get_span_context()
        if producer.is_valid:
            links.append(_api.Link(producer))
    attributes = _attributes(record, "process", "process")
    attributes["backburner.attempt"] = record.attempts
    with tracer.start_as_current_span(
        f"process {record.task}",
        context=parent,
        kind=_api.SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def ended(span: Any, outcome: Outcome) -> None:
    """Mark the attempt's span with how it ended: an error status and the exception."""
    if outcome.succeeded:
        return
    if outcome.exception is not None:
        span.record_exception(outcome.exception)
    first = (outcome.error or "").splitlines()[0] if outcome.error else "failed"
    span.set_status(_api.Status(_api.StatusCode.ERROR, first))


def flush() -> None:
    """Export the spans this process still holds (a worker child, before it exits)."""
    if _api is None or _api is False:
        return
    provider = _api.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush()
