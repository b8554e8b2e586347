"""The Redis store's paused queues and what `explain` asks about limits (a mixin); the
limits themselves are applied by its claim script (claim_jobs in lua/common.lua)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .redis_conn import RedisConnector


class RedisFlowControl:
    """RedisStore's pause, resume and flow-control answers."""

    if TYPE_CHECKING:
        _redis: RedisConnector

    def pause(self, queue: str) -> None:
        self._redis.run("pause", "1", queue)

    def resume(self, queue: str) -> None:
        self._redis.run("pause", "0", queue)

    def paused_queues(self) -> set[str]:
        with self._redis.guard():
            found = self._redis.connection().client.smembers(self._redis.key("paused"))
        return {str(queue) for queue in found}

    def concurrency_holders(self, key: str) -> list[str]:
        with self._redis.guard():
            found = self._redis.connection().client.smembers(self._redis.key("holders", key))
        return sorted(str(job_id) for job_id in found)

    def rate_window_until(self, key: str, limit: int) -> float | None:
        with self._redis.guard():
            client = self._redis.connection().client
            # the limit-th newest start: the window has room once it has left
            found = client.zrevrangebyscore(
                self._redis.key("rate", key),
                "+inf",
                f"({time.time()!r}",
                start=limit - 1,
                num=1,
                withscores=True,
            )
        return float(found[0][1]) if found else None
