"""Bulk enqueue and workflows (issue 17) on every store: all-or-none bulk, dependencies,
their propagation on failure and cancel, manual retry, chain and group."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backburner import Backburner, Call, JobStatus
from backburner.stores.base import Done
from backburner.testing import drain

from .records import make

Bb = Backburner
BROKEN = {"fragile": True}  # whether the task "fragile" fails


@pytest.fixture
def bb(store_url: str) -> Iterator[Backburner]:
    app = Backburner(store_url)
    app.settings.retries = 0

    @app.task(name="add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    @app.task(name="boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.task(name="fragile")
    def fragile() -> None:
        if BROKEN["fragile"]:
            raise RuntimeError("not yet")

    BROKEN["fragile"] = True

    @app.task(name="total")
    def total(results: list[int], bonus: int = 0) -> int:
        assert isinstance(results, list)
        return sum(results) + bonus

    @app.task(name="order")
    def order(results: list[int]) -> list[int]:
        return results

    yield app
    app.close()


def status(bb: Backburner, job_id: str) -> JobStatus:
    record = bb.store.get(job_id)
    assert record is not None
    return record.status


def count(bb: Backburner) -> int:
    return sum(sum(per.values()) for per in bb.store.counts().values())


def test_enqueue_many_stores_ten_thousand_jobs_in_order(bb: Bb) -> None:
    add = bb.tasks["add"]
    jobs = bb.enqueue_many(add.s(i, y=1) for i in range(10_000))
    assert len(jobs) == 10_000 and count(bb) == 10_000
    assert [j.status for j in jobs[:3]] == [JobStatus.QUEUED] * 3
    got = bb.store.get(jobs[9_999].id)
    assert got is not None and got.payload == '[[9999],{"y":1}]'
    claimed = bb.store.claim(None, "w", 20, 30)
    assert [r.id for r in claimed] == [j.id for j in jobs[:20]]


def test_a_bad_job_at_the_end_of_ten_thousand_stores_none_of_them(bb: Bb) -> None:
    add = bb.tasks["add"]
    calls = [add.s(i) for i in range(9_999)]
    calls.append(add.options(depends_on=["no-such-job"]).s(1))
    with pytest.raises(ValueError, match="no-such-job"):
        bb.enqueue_many(calls)
    assert count(bb) == 0


def test_a_repeated_job_id_late_in_a_bulk_store_stores_none_of_them(bb: Bb) -> None:
    records = [make("add") for _ in range(10_000)]
    records.append(records[5])
    with pytest.raises(ValueError):
        bb.store.enqueue(records)
    assert count(bb) == 0


def test_map_takes_tuples_and_dicts_and_honours_unique_key_per_job(bb: Bb) -> None:
    add = bb.tasks["add"]
    jobs = add.map([(1, 2), {"x": 5}])
    assert drain(bb) == 2 and [j.refresh().result for j in jobs] == [3, 5]
    live = add.options(unique_key="k").delay(1)
    again = bb.enqueue_many([add.options(unique_key="k").s(2), add.s(3)])
    assert again[0].id == live.id and again[1].id != live.id
    with pytest.raises(TypeError, match="tuple"):
        add.map([7])  # type: ignore[list-item]


def test_calls_are_checked_when_made(bb: Bb) -> None:
    add = bb.tasks["add"]
    with pytest.raises(TypeError, match="argument"):
        add.s({1, 2})
    with pytest.raises(TypeError):
        add.s(1, 2, 3)
    assert isinstance(add.options(priority=3).s(1), Call)
    [job] = bb.enqueue_many([add.options(priority=3, queue="q").s(1)])
    assert (job.record.priority, job.queue) == (3, "q")
    assert count(bb) == 1


def test_a_job_waits_for_every_dependency_then_is_queued(bb: Bb) -> None:
    add = bb.tasks["add"]
    a, b = add.delay(1), add.delay(2)
    c = add.options(depends_on=[a, b.id]).delay(3)
    assert c.status is JobStatus.WAITING
    assert [link.job_id for link in bb.store.dependencies(c.id)] == [a.id, b.id]
    assert [link.job_id for link in bb.store.dependents(a.id)] == [c.id]
    [first] = bb.store.claim(None, "w", 1, 30)
    assert bb.store.complete(first.id, first.token, "1")
    assert status(bb, c.id) is JobStatus.WAITING
    [second] = bb.store.claim(None, "w", 1, 30)
    assert second.id == b.id
    accepted, claimed = bb.store.complete_and_claim(
        [Done(b.id, second.token, "2")], None, "w", 5, 30
    )
    assert accepted == [True] and [r.id for r in claimed] == [c.id]


def test_depending_on_a_finished_job_queues_or_cancels_at_once(bb: Bb) -> None:
    add, boom = bb.tasks["add"], bb.tasks["boom"]
    ok, bad = add.delay(1), boom.delay()
    drain(bb)
    assert add.options(depends_on=[ok]).delay(2).status is JobStatus.QUEUED
    doomed = add.options(depends_on=[ok, bad]).delay(3)
    assert doomed.status is JobStatus.CANCELLED
    assert f"dependency {bad.id} failed" in (doomed.error or "")
    with pytest.raises(ValueError, match="does not exist"):
        add.options(depends_on=["nope"]).delay(4)


def test_diamond_dependencies_run_the_last_job_once_after_both(bb: Bb) -> None:
    add = bb.tasks["add"]
    top = add.delay(1)
    left = add.options(depends_on=[top]).delay(2)
    right = add.options(depends_on=[top]).delay(3)
    bottom = add.options(depends_on=[left, right]).delay(4)
    assert drain(bb) == 4
    finished = [bb.store.get(j.id) for j in (top, left, right, bottom)]
    assert all(r is not None and r.status is JobStatus.SUCCEEDED for r in finished)
    starts = [r.started_at or 0 for r in finished if r is not None]
    assert starts[3] >= max(starts[:3])


def test_a_failure_cancels_its_dependents_transitively_with_the_reason(bb: Bb) -> None:
    add, boom = bb.tasks["add"], bb.tasks["boom"]
    root = boom.delay()
    child = add.options(depends_on=[root]).delay(1)
    sibling = add.delay(5)
    grandchild = add.options(depends_on=[child, sibling]).delay(2)
    drain(bb)
    assert status(bb, root.id) is JobStatus.FAILED
    c, g = bb.store.get(child.id), bb.store.get(grandchild.id)
    assert c is not None and c.status is JobStatus.CANCELLED
    assert f"dependency {root.id} failed" in (c.error or "")
    assert g is not None and g.status is JobStatus.CANCELLED
    assert f"dependency {child.id} was cancelled" in (g.error or "")


def test_cancelling_a_job_cancels_its_waiting_dependents(bb: Bb) -> None:
    add = bb.tasks["add"]
    first = add.delay(1)
    chain = bb.chain(add.s(2), add.s(3))
    second = add.options(depends_on=[first, chain[1]]).delay(4)
    assert first.cancel()
    assert status(bb, second.id) is JobStatus.CANCELLED
    assert bb.chain(add.s(1), add.s(1))[1].cancel()  # a waiting job can be cancelled
    assert drain(bb) == 3  # the first chain, and the head of the second


def test_a_manual_retry_brings_cancelled_dependents_back(bb: Bb) -> None:
    add = bb.tasks["add"]
    root = bb.tasks["fragile"].delay()
    child = add.options(depends_on=[root]).delay(1)
    grandchild = add.options(depends_on=[child]).delay(2)
    drain(bb)
    assert status(bb, grandchild.id) is JobStatus.CANCELLED
    assert not bb.store.retry(child.id)  # its dependency has not succeeded: retry that
    BROKEN["fragile"] = False  # the bug is fixed
    assert bb.store.retry(root.id)
    assert status(bb, child.id) is JobStatus.WAITING
    assert status(bb, grandchild.id) is JobStatus.WAITING
    assert drain(bb) == 3
    assert status(bb, grandchild.id) is JobStatus.SUCCEEDED


def test_a_retry_leaves_cancelled_a_dependent_whose_unique_key_was_taken_meanwhile(
    bb: Bb,
) -> None:
    add = bb.tasks["add"]
    root = bb.tasks["fragile"].delay()
    keyed = add.options(depends_on=[root], unique_key="k").delay(1)
    other = add.options(depends_on=[root]).delay(2)
    drain(bb)
    assert status(bb, keyed.id) is JobStatus.CANCELLED  # its key is free again
    newer = add.options(unique_key="k").delay(3)
    assert newer.id != keyed.id
    assert bb.store.retry(root.id)
    # one live job per unique_key: the newer one keeps it, the old dependent stays cancelled
    assert status(bb, keyed.id) is JobStatus.CANCELLED
    assert status(bb, other.id) is JobStatus.WAITING
    assert add.options(unique_key="k").delay(4).id == newer.id


def test_a_chain_of_twenty_runs_in_order(bb: Bb) -> None:
    add = bb.tasks["add"]
    jobs = bb.chain(*(add.s(i) for i in range(20)))
    assert [j.status for j in jobs[:2]] == [JobStatus.QUEUED, JobStatus.WAITING]
    assert drain(bb) == 20
    records = [bb.store.get(j.id) for j in jobs]
    starts = [r.started_at for r in records if r is not None and r.started_at]
    assert len(starts) == 20 and starts == sorted(starts)
    assert all(r is not None and r.status is JobStatus.SUCCEEDED for r in records)


def test_a_group_of_a_hundred_gives_then_their_results_in_order(bb: Bb) -> None:
    add, order = bb.tasks["add"], bb.tasks["order"]
    group = bb.group([add.s(i) for i in reversed(range(100))], then=order.s())
    assert group.then is not None and group.then.status is JobStatus.WAITING
    assert len(group.jobs) == 100
    assert drain(bb) == 101
    assert group.then.refresh().result == list(reversed(range(100)))
    totalled = bb.group([add.s(1), add.s(2)], then=bb.tasks["total"].s(bonus=10))
    drain(bb)
    assert totalled.then is not None and totalled.then.refresh().result == 13


def test_purge_keeps_a_dependency_whose_dependent_has_not_run(bb: Bb) -> None:
    add = bb.tasks["add"]
    slow = add.options(queue="later").delay(0)
    group = bb.group([add.s(5), add.options(depends_on=[slow]).s(6)], then=bb.tasks["total"].s())
    drain(bb, queues=["default"])
    assert bb.store.purge() == 0  # the first part's result is still needed
    drain(bb)
    assert group.then is not None and group.then.refresh().result == 11
    assert bb.store.purge() == 4


def test_a_then_call_is_refused_anywhere_but_as_a_groups_then(bb: Bb) -> None:
    total = bb.tasks["total"]
    with pytest.raises(TypeError, match="results"):
        bb.enqueue_many([total.s()])
    with pytest.raises(TypeError):
        bb.tasks["add"].s(1, 2, 3)  # fits neither way
    with pytest.raises(TypeError, match="given the results first"):
        bb.group([total.s([1])], then=bb.tasks["add"].s(1, 2))
    with pytest.raises(ValueError, match="depends on the group"):
        bb.group([total.s([1])], then=total.options(depends_on=[total.delay([2])]).s())


def test_eager_mode_runs_chains_and_groups_in_order(bb: Bb) -> None:
    from backburner.testing import eager

    add = bb.tasks["add"]
    with eager(bb):
        chain = bb.chain(add.s(1), add.s(2))
        group = bb.group([add.s(3), add.s(4)], then=bb.tasks["total"].s())
    assert [j.status for j in chain] == [JobStatus.SUCCEEDED] * 2
    assert group.then is not None and group.then.result == 7


def test_a_dependency_named_twice_counts_once(bb: Bb) -> None:
    first = make("add", payload="[[1],{}]")
    second = make("add", payload="[[2],{}]", depends_on=(first.id, first.id))
    bb.store.enqueue([first, second])
    assert drain(bb) == 2
    assert status(bb, second.id) is JobStatus.SUCCEEDED
