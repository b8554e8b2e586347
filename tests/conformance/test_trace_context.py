"""The trace context a job carries (see backburner.tracing) is kept by every store."""

from __future__ import annotations

from backburner.stores import Store

from .records import make

CONTEXT = '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'


def test_a_jobs_trace_context_is_stored_and_claimed_with_it(store: Store) -> None:
    traced, plain = make(trace_context=CONTEXT), make()
    store.enqueue([traced, plain])
    assert store.get(traced.id).trace_context == CONTEXT  # type: ignore[union-attr]
    assert store.get(plain.id).trace_context is None  # type: ignore[union-attr]
    claimed = {r.id: r.trace_context for r in store.claim(None, "w1", 2, 30.0)}
    assert claimed == {traced.id: CONTEXT, plain.id: None}
