"""Background tasks: run by `backburner worker shop`, never in a request."""

from __future__ import annotations

from flask import current_app

from backburner import current_job

from .extensions import bb


@bb.task(retries=3, queue="receipts", expose_result=True)
def send_receipt(order_id: int) -> dict[str, object]:
    """Render and "send" the receipt of an order (jobs run inside the app context)."""
    current_job.set_progress(1, 2, "rendering")
    receipt = f"Receipt for order {order_id}"
    current_app.logger.info("sending %r (attempt %d)", receipt, current_job.attempt)
    current_job.set_progress(2, 2, "sent")
    return {"order_id": order_id, "receipt": receipt}
