"""LogLine: one line of a job's own output (print, stderr, logging), as stores keep it.

The worker captures them per attempt (see `worker.capture`); `job.logs()`, `backburner
logs` and the Flask job API read them back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["STREAMS", "LogLine"]

STREAMS = ("stdout", "stderr", "log")
"""Where a line came from: print() / sys.stdout, sys.stderr, or a logging record."""


@dataclass(frozen=True)
class LogLine:
    """One line a job wrote while it ran.

    `at`: when (Unix seconds); `attempt`: the attempt that wrote it (1, 2, ...);
    `stream`: "stdout", "stderr" or "log"; `level`: the logging level name ("INFO",
    ...) for "log" lines, None otherwise; `message`: the text, without its newline (a
    logging record with a traceback keeps the traceback's lines). `seq`: the line's
    number in its job's log, from 1 and increasing in the order lines were stored (0 for
    a line not stored yet); readers resume after the last one they saw.
    """

    at: float
    attempt: int
    stream: str
    level: str | None
    message: str
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """The line as plain JSON data: seq, at, attempt, stream, level, message."""
        return {
            "seq": self.seq,
            "at": self.at,
            "attempt": self.attempt,
            "stream": self.stream,
            "level": self.level,
            "message": self.message,
        }

    def text(self) -> str:
        """The line as `backburner logs` prints it: "HH:MM:SS.mmm #attempt stream message"
        (the level instead of "log" for logging records). Not yet made terminal-safe."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        millis = int(self.at * 1000) % 1000
        source = self.level or self.stream if self.stream == "log" else self.stream
        return f"{clock}.{millis:03d} #{self.attempt} {source:<7} {self.message}"
