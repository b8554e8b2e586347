"""Orders: POST stores an order and enqueues its receipt; GET answers its status.

The job must not exist unless the order does: a job enqueued before the commit could
run before the order is visible (or for an order rolled back). Two ways:

- any store: `transaction.on_commit` enqueues once the order is committed. If the
  process dies in between, the order has no job: its `receipt_job` stays empty.
- the PostgreSQL store in Django's own database: `bb.transaction(connection.connection)`
  writes the job in the order's transaction, on Django's connection: both or neither.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from mysite.jobs import bb

from .models import Order
from .tasks import send_receipt


@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    """Store an order from the form field `item`; 202 with the order's status URL."""
    item = request.POST.get("item", "").strip()
    if not item:
        return JsonResponse({"error": "the form field 'item' is required"}, status=400)
    if settings.BACKBURNER_IN_TRANSACTION:
        order = place_in_one_transaction(item)
    else:
        order = place_then_enqueue_on_commit(item)
    url = reverse("order_status", args=[order.pk])
    return JsonResponse(
        {"order": order.pk, "status_url": url}, status=202, headers={"Location": url}
    )


def place_then_enqueue_on_commit(item: str) -> Order:
    """Any store: the receipt job is enqueued once the order is committed (when this
    atomic() block ends, or the outermost one around it), and never if it rolls back."""
    with transaction.atomic():
        order = Order.objects.create(item=item)
        transaction.on_commit(lambda: enqueue_receipt(order))
    return order


def enqueue_receipt(order: Order) -> None:
    job = send_receipt.delay(order.pk)
    Order.objects.filter(pk=order.pk).update(receipt_job=job.id)


def place_in_one_transaction(item: str) -> Order:
    """PostgreSQL store in Django's database: the job is written on Django's connection,
    in the order's transaction; workers see it when that transaction commits."""
    with transaction.atomic():
        order = Order.objects.create(item=item)
        # inside atomic() Django's connection is open: `connection.connection` is its
        # psycopg 3 connection, which the store writes the job on
        with bb.transaction(connection.connection):
            job = send_receipt.delay(order.pk)
        order.receipt_job = job.id
        order.save(update_fields=["receipt_job"])
    return order


@require_GET
def order_status(request: HttpRequest, order_id: int) -> JsonResponse:
    """The order and its receipt job: status, attempts and, once sent, the receipt."""
    order = get_object_or_404(Order, pk=order_id)
    job = bb.get_job(order.receipt_job) if order.receipt_job else None
    receipt = None
    if job is not None:
        receipt = {"job_id": job.id, "status": job.status.value, "attempts": job.attempts}
        receipt["text"] = job.result
    sent_at = order.receipt_sent_at
    return JsonResponse(
        {
            "order": order.pk,
            "item": order.item,
            "receipt": receipt,
            "receipt_sent_at": sent_at.isoformat() if sent_at else None,
        }
    )
