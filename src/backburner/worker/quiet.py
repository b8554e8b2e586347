"""The supervisor's store calls (heartbeat, rescue, prune, hand-backs): never fatal.

Whatever a call raises, a store outage or a server's refusal (a Redis `ResponseError`
while pruning, say), is logged and the call answers None; the supervisor's next tick
tries again. A call failing every tick is logged with its traceback at most once per
LOG_EVERY seconds, so a long outage does not flood the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import StoreUnavailable

LOG_EVERY = 60.0  # seconds between two warnings about the same failing store call


class Quietly:
    """Call `quietly(store.method, *args)`: its result, or None once the failure is logged."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._warned: dict[str, float] = {}  # call name -> time.monotonic() of its warning

    def __call__(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:  # the worker must outlive any one failed call
            name = getattr(method, "__name__", repr(method))
            now = time.monotonic()
            last = self._warned.get(name)
            if last is not None and now - last < LOG_EVERY:
                self._log.debug("store call %s failed again: %r", name, exc)
                return None
            self._warned[name] = now
            self._log.warning(
                "store call %s failed (tried again at the next tick; said at most once "
                "every %.0fs): %s",
                name,
                LOG_EVERY,
                exc,
                # an outage's message says what to do; anything else may be a bug
                exc_info=not isinstance(exc, StoreUnavailable),
            )
            return None
