"""The shop's own tests: the route, and the task as a worker would run it."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from backburner.testing import drain, eager
from shop.extensions import bb
from shop.tasks import send_receipt


def test_the_receipt_route_answers_202_with_the_status_url(client: FlaskClient) -> None:
    response = client.post("/orders/42/receipt")
    assert response.status_code == 202
    data = response.get_json()
    assert data["status_url"] == f"/jobs/{data['job_id']}" == response.headers["Location"]
    assert data["status"] == "succeeded"  # TESTING: the job ran inline at delay()


def test_a_worker_runs_the_receipt_job(app: Flask) -> None:
    with eager(bb, False):  # queue it as in production, then run it here as a worker would
        job = send_receipt.delay(7)
        assert job.status == "queued"
        assert drain(bb) == 1
    assert job.refresh().result == {"order_id": 7, "receipt": "Receipt for order 7"}
    assert job.progress == {"done": 2, "total": 2, "message": "sent"}


def test_the_status_url_answers_the_stored_job(client: FlaskClient) -> None:
    # TESTING: the job ran at delay() and is stored, so its status URL answers as in production
    data = client.post("/orders/42/receipt").get_json()
    status = client.get(data["status_url"], headers={"Accept": "application/json"})
    assert status.status_code == 200
    assert status.get_json()["id"] == data["job_id"]
    assert status.get_json()["status"] == "succeeded"
    assert status.get_json()["progress"] == {"done": 2, "total": 2, "message": "sent"}
