"""OpenTelemetry: a PRODUCER span at delay(), a CONSUMER span per attempt, linked through
the trace context stored with the job; nothing at all without a tracer provider."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backburner import Backburner, current_job
from backburner.job import JobStatus
from backburner.testing import FakeClock, drain, run_schedules

from . import workerapp
from .helpers import worker_processes


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A tracer provider exporting to memory, as the app's global one, for this test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # set_tracer_provider: once
    yield exporter
    provider.shutdown()


@pytest.fixture
def bb(tmp_path: Path) -> Iterator[Backburner]:
    app = Backburner(f"sqlite:///{tmp_path}/jobs.db")

    @app.task(name="add", queue="maths")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="flaky", retries=1, retry_backoff=0)
    def flaky() -> int:
        if current_job.attempt == 1:
            raise ConnectionError("first attempt fails")
        return current_job.attempt

    yield app
    app.close()


def by_kind(spans: InMemorySpanExporter, kind: trace.SpanKind) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind is kind]


def test_producer_and_consumer_spans_are_linked_through_the_stored_job(
    bb: Backburner, spans: InMemorySpanExporter
) -> None:
    job = bb.tasks["add"].delay(2, 3)
    assert drain(bb) == 1 and job.wait(timeout=5) == 5
    [producer] = by_kind(spans, trace.SpanKind.PRODUCER)
    [consumer] = by_kind(spans, trace.SpanKind.CONSUMER)
    assert (producer.name, consumer.name) == ("send add", "process add")
    assert consumer.parent is not None
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]
    for span, operation in ((producer, "publish"), (consumer, "process")):
        attributes = span.attributes or {}
        assert attributes["messaging.system"] == "backburner"
        assert attributes["messaging.destination.name"] == "maths"
        assert attributes["messaging.operation"] == operation
        assert attributes["messaging.message.id"] == job.id
        assert attributes["backburner.task"] == "add"


def test_a_bulk_enqueue_is_one_producer_span_parent_of_every_jobs_consumer_span(
    bb: Backburner, spans: InMemorySpanExporter
) -> None:
    jobs = bb.tasks["add"].map([(1, 2), (3, 4), (5, 6)])
    assert drain(bb) == 3 and [job.wait(timeout=5) for job in jobs] == [3, 7, 11]
    [producer] = by_kind(spans, trace.SpanKind.PRODUCER)
    consumers = by_kind(spans, trace.SpanKind.CONSUMER)
    assert producer.name == "send" and len(consumers) == 3
    assert (producer.attributes or {})["messaging.batch.message_count"] == 3
    assert (producer.attributes or {})["messaging.destination.name"] == "maths"
    for consumer in consumers:
        assert consumer.parent is not None
        assert consumer.parent.span_id == producer.context.span_id


def test_each_attempt_has_its_span_and_a_failed_one_says_why(
    bb: Backburner, spans: InMemorySpanExporter
) -> None:
    job = bb.tasks["flaky"].delay()
    drain(bb)
    assert job.wait(timeout=5) == 2
    first, second = by_kind(spans, trace.SpanKind.CONSUMER)
    attributes = [(s.attributes or {})["backburner.attempt"] for s in (first, second)]
    assert attributes == [1, 2]
    assert first.status.status_code is trace.StatusCode.ERROR
    assert "ConnectionError" in (first.status.description or "")
    assert [e.name for e in first.events] == ["exception"]
    assert second.status.status_code is trace.StatusCode.UNSET


def test_a_periodic_jobs_consumer_span_is_linked_to_the_producer_span_of_its_tick(
    bb: Backburner, spans: InMemorySpanExporter
) -> None:
    bb.periodic(every=60, name="minutely", args=(1, 2))(bb.tasks["add"])
    clock = FakeClock(time.time() - 600)
    [job] = run_schedules(bb, clock, until=clock.time() + 60)
    assert drain(bb) == 1 and job.wait(timeout=5) == 3
    [producer] = by_kind(spans, trace.SpanKind.PRODUCER)
    [consumer] = by_kind(spans, trace.SpanKind.CONSUMER)
    assert (producer.name, consumer.name) == ("send add", "process add")
    assert (producer.attributes or {})["messaging.message.id"] == job.id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]


def test_without_a_tracer_provider_nothing_is_traced_or_stored(bb: Backburner) -> None:
    job = bb.tasks["add"].delay(1, 1)
    stored = bb.store.get(job.id)
    assert stored is not None and stored.trace_context is None
    assert drain(bb) == 1


def test_a_worker_process_continues_the_trace_and_exports_its_spans_before_exiting(
    spans: InMemorySpanExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    app = workerapp.build(url)
    job = app.tasks["noop"].delay()
    [producer] = by_kind(spans, trace.SpanKind.PRODUCER)
    monkeypatch.setenv("SPANS_FILE", str(tmp_path / "spans.jsonl"))
    with worker_processes(tmp_path) as start:
        worker = start(url, "--burst", "-p", "1", app="tracedapp:bb")
        assert worker.wait(30) == 0
    assert job.refresh().status is JobStatus.SUCCEEDED
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    [consumer] = [json.loads(line) for line in lines]
    assert (consumer["name"], consumer["kind"]) == ("process noop", "CONSUMER")
    assert consumer["trace_id"] == producer.context.trace_id
    assert consumer["parent_id"] == producer.context.span_id
    assert consumer["pid"] != worker.pid  # a child's span, flushed as it exited
    app.close()
