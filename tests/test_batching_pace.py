"""How many jobs a worker thread claims at a time (worker/batching.Pace)."""

from __future__ import annotations

from backburner.worker.batching import MAX_BATCH, Pace


def test_a_claim_is_for_what_the_childs_threads_start_within_the_window() -> None:
    alone, shared = Pace(), Pace(threads=8)
    assert alone.batch() == shared.batch() == 1  # nothing timed yet
    for pace in (alone, shared):
        pace.observe(0.01)  # 10 ms jobs: 8 threads start 4 in the 5 ms window
    assert (alone.batch(), shared.batch()) == (1, 4)
    for pace in (alone, shared):
        pace.mean = 0.0001  # no-op jobs: capped
    assert alone.batch() == shared.batch() == MAX_BATCH
    shared.mean = 1.0  # slow jobs: one at a time, so none waits behind another
    assert shared.batch() == 1
