"""The Backburner and its tasks. The worker loads this module alone (`backburner worker
reports.jobs`): it needs the tasks, not the web app."""

from __future__ import annotations

import asyncio

from backburner import Backburner, current_job

bb = Backburner()  # $BACKBURNER_URL, else sqlite:///backburner.db in the current folder


@bb.task(queue="reports", retries=3, timeout=120)
async def build_report(user_id: int, days: int) -> dict[str, int]:
    """Total a user's activity over `days` days, fetching the days concurrently.

    An `async def` task runs to completion on its worker thread's event loop, one job at
    a time per thread: what async buys is concurrency inside the job (here one fetch per
    day, all awaited together), with async clients such as httpx.AsyncClient.
    """
    fetches = [fetch_day(user_id, day) for day in range(days)]
    total = 0
    for done, fetched in enumerate(asyncio.as_completed(fetches), start=1):
        total += await fetched
        current_job.set_progress(done, days, f"{done} of {days} days fetched")
    return {"user_id": user_id, "days": days, "total": total}


async def fetch_day(user_id: int, day: int) -> int:
    """One day's activity: a stand-in for an HTTP call to another service."""
    await asyncio.sleep(0.01)
    return user_id + day
