"""The dashboard benchmark's app: the tasks its seeded jobs name, and a few schedules, so
the Job and Periodic pages have real definitions to show."""

from __future__ import annotations

from backburner import Backburner

#: (task name, queue) of the seeded jobs; a task's jobs all go to its queue. The
#: dashboard shows the arguments of those in EXPOSED (a search lists only jobs whose
#: match it may show, reading on past the others).
EXPOSED = {"mail.send_invoice", "mail.send_digest", "images.resize"}
TASKS = (
    ("mail.send_invoice", "mail"),
    ("mail.send_digest", "mail"),
    ("reports.build", "reports"),
    ("images.resize", "images"),
    ("billing.charge", "default"),
    ("crm.sync_contact", "default"),
)


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)
    for name, queue in TASKS:
        bb.task(name=name, queue=queue, expose_args=name in EXPOSED)(_work)
    bb.periodic("*/5 * * * *", name="reports.hourly", queue="reports")(_work)
    bb.periodic(every=60, name="crm.sweep")(_work)
    bb.periodic("0 3 * * *", name="billing.nightly")(_work)
    return bb


def _work(*args: object, **kwargs: object) -> None:
    """The bench runs no worker: the seeded jobs' outcomes are written straight to the store."""
    return None
