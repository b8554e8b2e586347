"""The orders' background tasks, run by `backburner worker mysite.worker`."""

from __future__ import annotations

from django.utils import timezone
from mysite.jobs import bb

from backburner import current_job

from .models import Order


@bb.task(retries=3, queue="receipts")
def send_receipt(order_id: int) -> str:
    """Send the receipt of an order (here: write it down) and return its text.

    The job is stored only once its order is committed (see views.py), so the order is
    always there to read. At least once: a retry after a crash may send it again, so
    a real mailer would key its message on `current_job.id`.
    """
    order = Order.objects.get(pk=order_id)
    text = f"Receipt for order {order.pk}: {order.item} (job {current_job.id})"
    Order.objects.filter(pk=order_id).update(receipt_sent_at=timezone.now())
    return text
