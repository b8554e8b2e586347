"""The app of bench/realwork.py: a job waiting on I/O and a CPU-bound one."""

from __future__ import annotations

import time

from backburner import Backburner


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="io")
    def io(seconds: float = 0.01) -> None:
        """Waits as a job calling a service would (the GIL is released meanwhile)."""
        time.sleep(seconds)

    @bb.task(name="cpu")
    def cpu(rounds: int = 50_000) -> int:
        """Pure Python arithmetic, holding the GIL throughout."""
        total = 0
        for i in range(rounds):
            total += i * i % 7
        return total

    return bb


bb = build()
