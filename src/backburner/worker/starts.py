"""Which claimed jobs a child has started: a table in memory it shares with its supervisor.

A child tells its supervisor of each job it claims (`Claimed`, over the report pipe, once
a claim) and of each it lets go (`Finished`, batched). What happens in between, a job
starting and ending, it writes here instead, with no message and no wake-up: the supervisor
reads the table on its own schedule (timeouts, forced cancels, a dead child).

The supervisor makes the table before it forks the child. Each claimed job gets a cell of
its own (`Claimed.cell`), one float: 0.0 claimed, not started; `at` running since `at`
(the child's time.monotonic(), one clock for the machine, always > 0); `-at` ended, its
outcome to be reported. A cell changes with one aligned 8-byte store, which x86-64 and
AArch64 make atomic, so a reader never sees half of one.

A cell is reused only once the `Finished` of its job was written to the pipe, so a
supervisor that finds a newer job's value in the cell of a job it still holds has that
`Finished` waiting in the pipe; it reads the pipe before it acts on a start (kills a child,
fails an attempt), and the job is gone by then. With no cell free (more jobs in hand than
the table was sized for), a job's start goes over the pipe as a `Started` event, as
before.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from multiprocessing.sharedctypes import RawArray

CELLS_PER_THREAD = 64  # jobs in hand per thread: running, claimed ahead, results unsent


class Starts:
    """One child's table. The child calls `claim`, `start`, `end` and `release`; the
    supervisor only `read`s."""

    def __init__(self, size: int) -> None:
        self._cells = RawArray(ctypes.c_double, size)  # anonymous shared memory: fork keeps it
        self._free = deque(range(size))  # oldest freed first: a cell rests before reuse
        self._cell: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_threads(cls, threads: int) -> Starts:
        return cls(CELLS_PER_THREAD * threads)

    # -- the child ---------------------------------------------------------------------
    def claim(self, job_id: str, token: int) -> int:
        """A cell for this attempt, marked not started; -1 when none is free."""
        with self._lock:
            if not self._free:
                return -1
            cell = self._free.popleft()
            self._cells[cell] = 0.0
            self._cell[job_id, token] = cell
            return cell

    def start(self, job_id: str, token: int, at: float) -> bool:
        """Mark the attempt running since `at`; False if it has no cell (tell by pipe)."""
        cell = self._cell.get((job_id, token))
        if cell is None:
            return False
        self._cells[cell] = at
        return True

    def end(self, job_id: str, token: int) -> None:
        """Mark the attempt ended (not running: no timeout), its start kept."""
        cell = self._cell.get((job_id, token))
        if cell is not None:
            self._cells[cell] = -self._cells[cell]

    def release(self, job_id: str, token: int) -> None:
        """Free the attempt's cell: call only once its `Finished` was sent."""
        with self._lock:
            cell = self._cell.pop((job_id, token), None)
            if cell is not None:
                self._free.append(cell)

    # -- the supervisor ----------------------------------------------------------------
    def read(self, cell: int) -> float:
        """The cell's value: 0.0 not started, > 0 running since, < 0 ended (-start)."""
        return float(self._cells[cell])
