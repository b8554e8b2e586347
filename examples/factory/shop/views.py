"""The orders blueprint: a route hands the slow part to a job and answers at once."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from backburner.flask import job_url

from .tasks import send_receipt

orders = Blueprint("orders", __name__, url_prefix="/orders")


@orders.post("/<int:order_id>/receipt")
def receipt(order_id: int) -> Response:
    """Enqueue the receipt; 202 with the job's status URL (also in Location)."""
    job = send_receipt.delay(order_id)
    response = jsonify(job_id=job.id, status=job.status.value, status_url=job_url(job.id))
    response.status_code = 202
    response.headers["Location"] = job_url(job.id)
    return response
