"""workerapp's tasks with an OpenTelemetry tracer provider set at import, as an app would,
exporting each span as a JSON line to $SPANS_FILE in batches (so a worker child's spans
reach the file only if it flushes them before it exits)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import workerapp  # type: ignore[import-not-found]  # tests/ is on the worker's sys.path


class FileExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a") as out:
            for span in spans:
                parent = span.parent.span_id if span.parent is not None else None
                line = {
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": span.context.trace_id,
                    "parent_id": parent,
                    "pid": os.getpid(),
                }
                out.write(json.dumps(line) + "\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
# an hour between exports: only the flush at a child's exit writes its spans
provider.add_span_processor(
    BatchSpanProcessor(FileExporter(os.environ["SPANS_FILE"]), schedule_delay_millis=3_600_000)
)
trace.set_tracer_provider(provider)
bb = workerapp.build()
