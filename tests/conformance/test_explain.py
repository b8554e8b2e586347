"""`bb.explain()`: each sentence, produced by a real situation on every store (with real
worker processes where a live worker is part of the situation)."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backburner import Backburner, JobStatus, current_job, explain, policy
from backburner.job import JobRecord
from backburner.stores import WorkerInfo
from backburner.testing import drain

from .. import cancelapp
from ..helpers import Start, wait_until

UTC = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.fixture
def bb(store_url: str) -> Iterator[Backburner]:
    app = cancelapp.build(store_url)

    @app.task(name="boom", retries=0)
    def boom() -> None:
        raise ValueError("bad input\nsecond line")

    @app.task(name="cancels_itself")
    def cancels_itself() -> None:
        job = app.get_job(str(current_job.id))
        assert job is not None
        job.cancel()  # running: cancel requested, so the failure below is not retried
        raise RuntimeError("stopped on request")

    yield app
    app.close()


def why(bb: Backburner, job_id: str) -> explain.Explanation:
    found = explain.explain(bb, job_id)
    # the same sentence (its times may have moved on: a lease renewed, a second gone by)
    assert bb.explain(job_id).split(" ")[:3] == found.sentence.split(" ")[:3]
    return found


def live_worker(bb: Backburner, *tasks: str, queues: tuple[str, ...] = ()) -> None:
    """Register a live worker as a supervisor does at each heartbeat."""
    now = time.time()
    info = WorkerInfo(f"w-{uuid.uuid4().hex[:6]}", "host", 1, now, now, queues, (), tasks)
    bb.store.record_worker(info)


def enqueue_unknown(bb: Backburner) -> str:
    now = time.time()
    record = JobRecord(uuid.uuid4().hex, "elsewhere.task", run_at=now, created_at=now)
    [job_id] = bb.store.enqueue([record])
    return job_id


def test_an_unknown_id_is_not_found(bb: Backburner) -> None:
    found = why(bb, "no-such-job")
    assert found.reason == "not_found" and found.facts["status"] is None
    assert found.sentence.startswith("No job 'no-such-job' in this store")


def test_finished_jobs_say_how_and_when(bb: Backburner) -> None:
    ok = bb.tasks["noop"].delay()
    failed = bb.tasks["boom"].delay()
    stopped = bb.tasks["cancels_itself"].delay()
    never = bb.tasks["noop"].schedule(delay=3600)
    never.cancel()
    drain(bb)
    found = why(bb, ok.id)
    assert found.reason == "succeeded"
    assert re.fullmatch(rf"Succeeded at {UTC} \(\d\.\d s ago\), on attempt 1\.", found.sentence)
    found = why(bb, failed.id)
    assert found.reason == "failed" and found.facts["error"] == "ValueError: bad input"
    assert re.fullmatch(
        rf"Failed at {UTC} \(.* ago\) after 1 attempt: ValueError: bad input", found.sentence
    )
    found = why(bb, stopped.id)
    assert found.reason == "cancelled" and found.facts["status"] == "cancelled"
    assert found.sentence.endswith(", while running: RuntimeError: stopped on request")
    found = why(bb, never.id)
    assert found.reason == "cancelled" and found.sentence.endswith(", before it ran.")


def test_a_scheduled_job_says_when_and_a_retry_after_which_failure(bb: Backburner) -> None:
    later = bb.tasks["noop"].schedule(delay=3600)
    found = why(bb, later.id)
    assert found.reason == "scheduled" and found.facts["run_at"] == later.record.run_at
    assert re.fullmatch(rf"Scheduled for {UTC} \(in 5\d min \d+ s\)\.", found.sentence)
    retried = bb.tasks["noop"].delay()
    [claimed] = bb.store.claim(None, "w", 1, 30.0)
    assert claimed.id == retried.id
    bb.store.end_attempts([policy.after_error(claimed, "ConnectionError: down", delay=7200)])
    found = why(bb, retried.id)
    assert found.reason == "scheduled"
    assert re.fullmatch(
        rf"Attempt 2 of 4 is scheduled for {UTC} \(in 1 h 59 min\), after attempt 1 "
        r"failed: ConnectionError: down",
        found.sentence,
    )


def test_a_job_waiting_on_dependencies_names_them_and_one_cancelled_for_one_says_why(
    bb: Backburner,
) -> None:
    first, second = bb.tasks["noop"].delay(), bb.tasks["boom"].delay()
    later = bb.tasks["noop"].options(depends_on=[first, second]).delay()
    found = why(bb, later.id)
    assert found.reason == "waiting"
    assert [d["id"] for d in found.facts["waiting_on"]] == [first.id, second.id]
    assert found.sentence == (
        f"Waiting for 2 dependencies to succeed: {first.id} (noop, queued), {second.id} "
        "(boom, queued); it is queued the moment the last one does."
    )
    drain(bb)  # first succeeds, second fails for good: `later` is cancelled for it
    found = why(bb, later.id)
    assert found.reason == "cancelled"
    assert re.fullmatch(
        rf"Cancelled at {UTC} \(.* ago\), before it ran: DependencyFailed: dependency "
        rf"{second.id} failed; retry it .*",
        found.sentence,
    )


def test_a_job_in_a_paused_queue_says_so_before_anything_else(bb: Backburner) -> None:
    live_worker(bb, "noop")
    bb.pause("default")
    due, later = bb.tasks["noop"].delay(), bb.tasks["noop"].schedule(delay=3600)
    found = why(bb, due.id)
    assert found.reason == "paused"
    assert found.sentence == (
        "Queue 'default' is paused: it is due, but no worker claims from that queue until "
        "it is resumed (backburner resume APP default)."
    )
    assert why(bb, later.id).reason == "paused"
    bb.resume("default")
    assert why(bb, due.id).reason == "next"


def test_a_job_over_its_concurrency_or_rate_limit_says_which_and_until_when(
    bb: Backburner,
) -> None:
    @bb.task(name="sync", concurrency=1, concurrency_key=lambda user: f"user:{user}")
    def sync(user: int) -> None:
        return None

    @bb.task(name="call_api", rate="1/h")
    def call_api() -> None:
        return None

    live_worker(bb, "sync", "call_api")
    first, second = sync.delay(42), sync.delay(42)
    [running] = bb.store.claim(None, "w", 1, 30.0)
    assert running.id == first.id
    found = why(bb, second.id)
    assert found.reason == "concurrency_full" and found.facts["holders"] == [first.id]
    assert found.sentence == (
        f"Due, but its 1 concurrency slot of key 'user:42' is held by running job(s) "
        f"{first.id}: it starts when one of them ends."
    )
    assert why(bb, sync.delay(7).id).reason == "behind"  # another key: only waits its turn
    bb.store.complete(running.id, running.token, None)
    for job in bb.store.claim(None, "w", 10, 30.0):
        bb.store.complete(job.id, job.token, None)
    started, held = call_api.delay(), call_api.delay()
    assert [r.id for r in bb.store.claim(None, "w", 10, 30.0)] == [started.id]
    found = why(bb, held.id)
    assert found.reason == "rate_full" and found.facts["until"] > time.time() + 3500
    assert re.fullmatch(
        rf"Due, but rate key 'call_api' had its 1 start\(s\) per 3600 s already: the window "
        rf"has room again at {UTC} \(in 59 min \d+ s\)\.",
        found.sentence,
    )


def test_a_due_job_with_no_live_worker_for_its_queue_says_so(bb: Backburner) -> None:
    live_worker(bb, "noop", queues=("other",))
    job = bb.tasks["noop"].delay()
    found = why(bb, job.id)
    assert found.reason == "no_worker" and found.facts["live_workers"] == 1
    assert "but no live worker serves queue 'default': start one" in found.sentence


def test_due_jobs_say_how_many_are_ahead_of_them(
    bb: Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_worker(bb, "noop")
    first, second, third = (bb.tasks["noop"].delay() for _ in range(3))
    urgent = bb.tasks["noop"].options(priority=1).delay()
    found = why(bb, urgent.id)
    assert found.reason == "next" and found.facts["serving_workers"] == 1
    assert found.sentence.startswith(
        "Due and next in line in queue 'default', which 1 live worker serves: it starts"
    )
    found = why(bb, third.id)
    assert found.reason == "behind" and found.facts["ahead"] == 3
    assert found.sentence == (
        "Waiting behind 3 due job(s) of higher or equal priority in queue 'default', which "
        "1 live worker serves."
    )
    monkeypatch.setattr(explain, "AHEAD_CAP", 2)
    found = why(bb, third.id)
    assert found.facts["ahead"] == 2 and found.facts["more_ahead"] is True
    assert found.sentence.startswith("Waiting behind more than 2 due job(s)")
    assert why(bb, second.id).facts["ahead"] == 2 and not why(bb, first.id).facts["more_ahead"]


def test_a_job_no_live_worker_knows_says_which_tasks_they_know(bb: Backburner) -> None:
    live_worker(bb, "noop", "stuck")
    found = why(bb, enqueue_unknown(bb))
    assert found.reason == "unknown_task" and found.facts["known_tasks"] == ["noop", "stuck"]
    assert found.sentence.startswith(
        "None of the live workers serving queue 'default' (1) knows task 'elsewhere.task'; "
        "they know noop, stuck: deploy"
    )


def test_a_running_job_whose_worker_is_gone_says_its_lease_lapses(bb: Backburner) -> None:
    job = bb.tasks["noop"].delay()
    bb.store.claim(None, "gone:1:abc#0", 1, 60.0)
    found = why(bb, job.id)
    assert found.reason == "running" and found.facts["host"] is None
    assert re.fullmatch(
        rf"Running on worker gone:1:abc#0 since {UTC} \(.* ago\), but that worker has not "
        rf"been seen alive lately: if it died, the job is rescued once its lease lapses at "
        rf"{UTC} \(in 5\d s\)\.",
        found.sentence,
    )


def test_a_running_job_past_its_lease_and_asked_to_cancel_says_both(bb: Backburner) -> None:
    job = bb.tasks["noop"].delay()
    bb.store.claim(None, "gone:1:abc#0", 1, 0.01)
    job.cancel()
    wait_until(lambda: bb.store.lapsed(time.time(), 10))
    found = why(bb, job.id)
    assert found.facts["cancel_requested"] is True and found.facts["cancel_grace"] is None
    assert re.fullmatch(
        rf"Running on worker gone:1:abc#0 since {UTC} \(.* ago\); its lease lapsed at {UTC} "
        r"\(.* ago\), so a live worker will rescue it shortly\. Cancel was requested: it will "
        r"not be retried\.",
        found.sentence,
    )


# -- with worker processes ------------------------------------------------------------
def test_running_behind_next_and_unknown_with_a_live_worker(
    bb: Backburner, shared_url: str, start: Start, tmp_path: Path
) -> None:
    marker = tmp_path / "busy"
    busy = bb.tasks["sleep_once"].delay(str(marker))
    worker = start(shared_url, "-p", "1", "--lease", "3", app="cancelapp:bb")
    wait_until(marker.exists, timeout=30)
    wait_until(lambda: any(busy.id in w.jobs for w in bb.store.list_workers(0)), timeout=10)
    found = why(bb, busy.id)
    assert found.reason == "running" and found.facts["pid"] == worker.pid
    assert found.facts["host"] == socket.gethostname()
    assert re.fullmatch(
        rf"Running on worker \S+#0 \(host \S+, pid {worker.pid}\) since {UTC} \(.* ago\), "
        rf"its lease held until {UTC} \(in \d\.\d s\)\.",
        found.sentence,
    )
    first, second = bb.tasks["noop"].delay(), bb.tasks["noop"].delay()
    assert why(bb, first.id).reason == "next"
    assert "(they hold 1 running job)" in bb.explain(first.id)
    assert why(bb, second.id).facts["ahead"] == 1
    busy.cancel(force=True, grace=60)
    found = wait_until(lambda: (f := why(bb, busy.id)).facts["cancel_grace"] and f)
    assert found.sentence.endswith(
        "It was cancelled by force: its worker stops it if it has not returned 60 s after "
        "telling it."
    )
    busy.cancel(force=True, grace=0.1)  # a shorter grace: the child is killed
    # explain itself, not why(): the job may end between why()'s two readings
    wait_until(lambda: explain.explain(bb, busy.id).reason == "cancelled", timeout=20)
    assert re.fullmatch(
        rf"Cancelled at {UTC} \(.* ago\), while running: ForcedCancel: cancelled by force "
        r"after 0.1 s grace: .*",
        bb.explain(busy.id),
    )
    unknown = enqueue_unknown(bb)  # claimed, then handed back: due again a little later
    wait_until(lambda: (bb.store.get(unknown) or busy.record).status is JobStatus.SCHEDULED)
    found = why(bb, unknown)
    assert found.reason == "unknown_task" and "noop" in found.facts["known_tasks"]
    assert second.wait(timeout=20) is None and why(bb, second.id).reason == "succeeded"
