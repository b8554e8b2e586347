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


def test_the_trace_context_is_kept_by_every_way_of_storing_jobs(store: Store) -> None:
    """A job with dependencies, one deduplicated by a unique key, and a bulk batch big
    enough for the stores' bulk paths (PostgreSQL's COPY) all keep theirs."""
    first = make(trace_context=CONTEXT)
    waiting = make(trace_context=CONTEXT, depends_on=(first.id,))
    keyed = make(trace_context=CONTEXT, unique_key="k")
    store.enqueue([first, waiting, keyed])
    bulk = [make(trace_context=CONTEXT) for _ in range(5001)]
    store.enqueue(bulk)
    for job_id in (first.id, waiting.id, keyed.id, bulk[0].id, bulk[-1].id):
        assert store.get(job_id).trace_context == CONTEXT  # type: ignore[union-attr]
