"""An event loop per thread, for `async def` tasks.

Every thread that runs jobs (a worker thread, the thread calling `drain()` or an eager
`delay()`) keeps one loop and reuses it for each async job it runs, so connections a task
caches on the loop stay usable from one job to the next. The job's context (current_job,
a Flask app context) is copied into the coroutine's asyncio task, as asyncio does.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_local = threading.local()  # per thread by design: one loop may run in one thread only


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run `coroutine` to completion on this thread's loop and return its result.

    From a thread whose loop is already running (an async view calling an eager task), it
    runs on a helper thread with a loop of its own instead: one thread cannot run two."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _loop().run_until_complete(coroutine)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="bb-async") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


def _loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    # a loop inherited through fork() shares its selector with the parent: make a new one
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        _local.loop, _local.pid = loop, os.getpid()
    return loop
