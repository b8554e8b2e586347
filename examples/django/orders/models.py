"""An order, and what its receipt job did."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    item = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # the id of the job sending the receipt: empty only if the order's process died
    # between the commit and the on_commit enqueue, so such orders can be found again
    receipt_job = models.CharField(max_length=32, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
