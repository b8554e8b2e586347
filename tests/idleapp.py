"""workerapp's tasks, with worker threads that wait 30 s for work (not IDLE_WAIT's 1 s)
before they look at their stop again: a test sees whether a stop waits for that."""

from __future__ import annotations

from backburner import Backburner
from backburner.worker import child
from workerapp import build  # type: ignore[import-not-found]

child.IDLE_WAIT = 30.0  # read by the forked children at each wait
bb: Backburner = build()
