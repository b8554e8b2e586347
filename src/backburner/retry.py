"""Backoff policy: exponential with full jitter, capped."""

from __future__ import annotations

import random

MAX_BACKOFF = 3600.0


def backoff_delay(attempt: int, base: float, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): uniform in
    [0, min(cap, base * 2**(attempt-1))], so retrying workers spread out."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return random.uniform(0.0, ceiling)
