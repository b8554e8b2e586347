"""Job logs in the Redis store: a list per job, `{p}:logs:<id>`, whose item n is line n
(`[attempt, at, stream, level, message]` as JSON), deleted with the job by purge.lua."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..logs import LogLine

if TYPE_CHECKING:
    from .redis_conn import RedisConnector


class RedisLogs:
    """`append_logs` and `logs` of RedisStore."""

    if TYPE_CHECKING:
        _redis: RedisConnector

    def append_logs(self, lines: Mapping[str, Sequence[LogLine]]) -> None:
        """See `Store.append_logs`: one script for every job's lines (append_logs.lua)."""
        args: list[Any] = []
        for job_id, added in lines.items():
            if added:
                args += (job_id, len(added))
                args += (json.dumps([x.attempt, x.at, x.stream, x.level, x.message]) for x in added)
        if args:
            self._redis.run("append_logs", *args)

    def logs(self, job_id: str, *, attempt: int | None = None, after: int = 0) -> list[LogLine]:
        """See `Store.logs`."""
        with self._redis.guard():
            client = self._redis.connection().client
            items = client.lrange(self._redis.key("logs", job_id), max(after, 0), -1)
        found = []
        for seq, item in enumerate(items, max(after, 0) + 1):
            n, at, stream, level, message = json.loads(item)
            if attempt is None or n == attempt:
                found.append(LogLine(float(at), int(n), stream, level, message, seq))
        return found
