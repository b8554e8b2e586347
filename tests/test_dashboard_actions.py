"""The dashboard's actions (issue 19): each does what it says, answers with a redirect and
a message, and leaves an audit entry naming who, what and from where; bulk actions act
on the count confirmed, never more than 1,000."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backburner import Backburner, JobStatus
from backburner.dashboard.actions import BULK_CAP
from backburner.dashboard.guard import basic_auth
from backburner.stores.base import AuditEntry
from backburner.testing import drain

from .dashboardapp import flask_app, register

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(params=["memory", "sqlite"])
def bb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backburner]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/jobs.db"
    bb = Backburner(url)
    register(bb)
    yield bb
    bb.close()


@pytest.fixture
def client(bb: Backburner) -> FlaskClient:
    return flask_app(bb, dashboard_user=lambda request: "alice").test_client()


def post(client: FlaskClient, path: str, **data: Any) -> Any:
    response = client.post(f"/backburner{path}", data=data, headers=SAME_ORIGIN)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def last_audit(bb: Backburner) -> AuditEntry:
    return bb.store.audit_log(limit=1)[0]


def failed_job(bb: Backburner) -> str:
    job = bb.tasks["mail.send"].delay("a@example.com", "fail")
    drain(bb)
    return job.id


def test_retry_queues_a_failed_job_again_and_is_audited(
    client: FlaskClient, bb: Backburner
) -> None:
    job_id = failed_job(bb)
    response = post(client, f"/jobs/{job_id}/retry")
    assert response.headers["Location"].endswith(f"/backburner/jobs/{job_id}")
    assert bb.store.get(job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    entry = last_audit(bb)
    assert (entry.actor, entry.action, entry.target, entry.source) == (
        "alice",
        "retry",
        job_id,
        "127.0.0.1",
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="flash"' in page and "queued again" in page
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="flash"' not in again  # shown once


def test_retrying_a_job_that_cannot_be_is_audited_as_refused(
    client: FlaskClient, bb: Backburner
) -> None:
    job = bb.tasks["mail.send"].delay("a@example.com", "hi")
    post(client, f"/jobs/{job.id}/retry")
    assert last_audit(bb).detail == "not retried: queued"


def test_cancel_and_force_cancel(client: FlaskClient, bb: Backburner) -> None:
    job = bb.tasks["mail.send"].delay("a@example.com", "hi")
    post(client, f"/jobs/{job.id}/cancel")
    assert bb.store.get(job.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert (last_audit(bb).action, last_audit(bb).target) == ("cancel", job.id)
    other = bb.tasks["mail.send"].delay("b@example.com", "hi")
    post(client, f"/jobs/{other.id}/cancel", force="1")
    assert bb.store.get(other.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert last_audit(bb).action == "cancel_force"
    post(client, f"/jobs/{other.id}/cancel")
    assert last_audit(bb).detail == "not cancelled: cancelled"
    unknown = client.post("/backburner/jobs/0123/cancel", headers=SAME_ORIGIN)
    assert unknown.status_code == 404


def test_delete_removes_a_finished_job_only(client: FlaskClient, bb: Backburner) -> None:
    job_id = failed_job(bb)
    pending = bb.tasks["mail.send"].delay("a@example.com", "hi")
    post(client, f"/jobs/{pending.id}/delete")
    assert bb.store.get(pending.id) is not None
    assert last_audit(bb).detail.startswith("not deleted")
    response = post(client, f"/jobs/{job_id}/delete")
    assert bb.store.get(job_id) is None
    assert response.headers["Location"].endswith("/backburner/jobs")
    assert (last_audit(bb).action, last_audit(bb).target) == ("delete", job_id)


def test_pause_and_resume_a_queue(client: FlaskClient, bb: Backburner) -> None:
    post(client, "/queues/pause", queue="mail")
    assert bb.paused() == {"mail"}
    page = client.get("/backburner/queues").get_data(as_text=True)
    assert 'data-testid="action-resume"' in page and 'data-testid="paused-badge"' in page
    post(client, "/queues/resume", queue="mail")
    assert bb.paused() == set()
    assert [e.action for e in bb.store.audit_log()] == ["resume", "pause"]


def test_run_a_schedule_now_enqueues_its_job(client: FlaskClient, bb: Backburner) -> None:
    response = post(client, "/periodic/run", schedule="hourly-mail")
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = bb.store.get(job_id)
    assert job is not None and job.task == "mail.send"
    assert job.payload == '[["ops@example.com","hourly"],{}]'
    assert (last_audit(bb).action, last_audit(bb).target) == ("run_schedule", "hourly-mail")
    assert (
        client.post(
            "/backburner/periodic/run", data={"schedule": "nope"}, headers=SAME_ORIGIN
        ).status_code
        == 404
    )


def confirm_count(client: FlaskClient, query: str) -> int:
    html = client.get(f"/backburner/bulk?{query}").get_data(as_text=True)
    found = re.search(r'data-testid="confirm-count" data-count="(\d+)"', html)
    assert found is not None, html
    return int(found.group(1))


def test_retry_all_matching_confirms_the_count_then_acts_on_that_many(
    client: FlaskClient, bb: Backburner
) -> None:
    send = bb.tasks["mail.send"]
    jobs = [send.delay(f"u{i}@example.com", "fail") for i in range(5)]
    drain(bb)
    assert confirm_count(client, "action=retry&status=failed&task=mail.send") == 5
    # the POST carries the count confirmed: it acts on no more, newest first
    post(client, "/bulk", action="retry", status="failed", task="mail.send", count="3")
    statuses = [bb.store.get(j.id).status for j in jobs]  # type: ignore[union-attr]
    assert statuses == [JobStatus.FAILED] * 2 + [JobStatus.QUEUED] * 3
    entry = last_audit(bb)
    assert (entry.action, entry.target, entry.detail) == (
        "retry_matching",
        "status=failed task=mail.send",
        "3 jobs",
    )


def test_delete_all_matching_and_its_refusals(client: FlaskClient, bb: Backburner) -> None:
    for i in range(4):
        bb.tasks["mail.send"].delay(f"u{i}@example.com", "fail")
    drain(bb)
    assert client.get("/backburner/bulk?action=delete").status_code == 400  # no status
    assert client.get("/backburner/bulk?action=delete&status=queued").status_code == 400
    refused = client.post(
        "/backburner/bulk", data={"action": "delete", "status": "failed"}, headers=SAME_ORIGIN
    )
    assert refused.status_code == 400  # no confirmed count
    assert confirm_count(client, "action=delete&status=failed") == 4
    post(client, "/bulk", action="delete", status="failed", count="4")
    assert bb.store.count_jobs(bb_filter(status=JobStatus.FAILED), 10) == 0
    assert last_audit(bb).detail == "4 jobs"


def bb_filter(**fields: Any) -> Any:
    from backburner.stores.base import JobFilter

    return JobFilter(**fields)


def test_bulk_actions_stop_at_the_cap(client: FlaskClient, bb: Backburner) -> None:
    send = bb.tasks["mail.send"]
    send.map([(f"u{i}@example.com", "x") for i in range(BULK_CAP + 5)])
    for job in bb.store.list_jobs(limit=BULK_CAP + 5):
        bb.store.cancel(job.id)
    assert confirm_count(client, "action=retry&status=cancelled") == BULK_CAP
    page = client.get("/backburner/bulk?action=retry&status=cancelled").get_data(as_text=True)
    assert "the most one action takes" in page
    too_many = client.post(
        "/backburner/bulk",
        data={"action": "retry", "status": "cancelled", "count": str(BULK_CAP + 1)},
        headers=SAME_ORIGIN,
    )
    assert too_many.status_code == 400


def test_a_bulk_search_counts_only_what_the_list_shows(client: FlaskClient, bb: Backburner) -> None:
    bb.tasks["billing.charge"].delay(1, "sk_live_secret")
    drain(bb)
    assert confirm_count(client, "action=retry&status=failed&q=sk_live_secret") == 0
    assert confirm_count(client, "action=retry&status=failed&q=billing") == 1


def test_without_dashboard_user_the_checked_basic_auth_user_or_anonymous_acts(
    bb: Backburner,
) -> None:
    bob = {**SAME_ORIGIN, "Authorization": "Basic Ym9iOnNlY3JldA=="}  # bob:secret
    client = flask_app(bb).test_client()
    post(client, "/queues/pause", queue="a")
    assert last_audit(bb).actor == "anonymous"
    # a name nothing checked (the default access ignores the header) is not taken
    client.post("/backburner/queues/pause", data={"queue": "b"}, headers=bob)
    assert last_audit(bb).actor == "anonymous"
    checked = flask_app(bb, dashboard_access=basic_auth("bob", "secret")).test_client()
    assert (
        checked.post("/backburner/queues/pause", data={"queue": "c"}, headers=bob).status_code
        == 303
    )
    assert last_audit(bb).actor == "bob"


def test_actions_answer_get_with_405(client: FlaskClient, bb: Backburner) -> None:
    job_id = failed_job(bb)
    assert client.get(f"/backburner/jobs/{job_id}/retry").status_code == 405
    assert client.get("/backburner/queues/pause?queue=mail").status_code == 405
    assert bb.store.audit_log() == []
