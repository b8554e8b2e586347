"""Tasks the forced-cancel and explain tests run in real worker processes.

The worker imports this module as `cancelapp` with $BACKBURNER_URL naming the test's store;
tests build their own handle on the same store with `build(url)`.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from backburner import Backburner, current_job

# (a+)+$ against a's then a b backtracks through every split of the a's: 2**40 tries, hours
# inside one call into the C regex engine, which holds the GIL and never checks for signals
CATASTROPHIC = re.compile(r"(a+)+$")


def build(url: str | None = None) -> Backburner:
    bb = Backburner(url)

    @bb.task(name="stuck")
    def stuck(marker: str, how: str, after: str | None = None) -> None:
        """Once file `after` exists (the regex holds the GIL: nothing else in the process
        runs after that), writes `marker`, then never returns on its own, ignoring
        cancel_requested: "sleep" in time.sleep, "masked" in time.sleep with every signal
        blocked, "regex" in a regular expression match that runs for hours."""
        deadline = time.monotonic() + 60
        while after is not None and not Path(after).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        Path(marker).write_text(str(os.getpid()))
        if how == "masked":
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            time.sleep(600)
        elif how == "regex":
            CATASTROPHIC.match("a" * 40 + "b")
        else:
            time.sleep(600)

    @bb.task(name="sleep_once")
    def sleep_once(marker: str) -> str:
        """The first run writes `marker` and sleeps; a run that finds it returns at once."""
        if Path(marker).exists():
            return "ran again"
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)
        return "slept"

    @bb.task(name="noop")
    def noop() -> None:
        return None

    @bb.task(name="polite")
    def polite(marker: str) -> None:
        """Writes `marker`, then stops as soon as cancel is requested."""
        Path(marker).write_text(str(os.getpid()))
        deadline = time.monotonic() + 600
        while not current_job.cancel_requested and time.monotonic() < deadline:
            time.sleep(0.02)
        raise RuntimeError("stopped on request")

    return bb


bb = build()
