"""The Redis store's dashboard methods (a mixin): finding, counting and deleting jobs,
history points and the audit log.

`find_jobs` merges the per-queue, per-status index sets (`{p}:idx:<status>:<queue>`,
scored by enqueue sequence) newest first from the cursor, so a page of a status or a
queue reads only that page. Filters no index answers (task, search, scheduled vs queued)
are tested on the server by lua/match_jobs.lua, 500 jobs a script, at most `scan_limit`
jobs a call (lower than the SQL stores'). Deletes and the audit log's numbering run as
scripts too (lua/delete_jobs.lua, record_audit.lua).

    {p}:history              zset: the minutes with history, scored by minute
    {p}:history:<minute>     hash: "<outcome> <queue>" -> count (HINCRBY sums writers)
    {p}:audit                zset: "<seq> <entry JSON>" scored by seq
    {p}:audit:seq            counter: the audit log's numbering
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, cast

import redis

from ..job import PENDING, JobRecord, JobStatus, pending_status
from .base import AuditEntry, HistoryPoint, JobFilter, JobPage
from .dashboard import after_seq, cursor, exact_match, summed

if TYPE_CHECKING:
    from .redis_conn import RedisConnector

_STORED = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
_PAGE = 500  # index entries per ZREVRANGEBYSCORE, and jobs per pipelined read
_DELETE_BATCH = 500  # jobs per delete_jobs script, so none blocks Redis for long


class RedisDashboard:
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of RedisStore."""

    scan_limit = 20_000

    if TYPE_CHECKING:
        _redis: RedisConnector

        def _queues(self, client: redis.Redis) -> list[str]: ...

        def _light_many(self, client: redis.Redis, ids: Iterable[str]) -> list[JobRecord]: ...

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

    def _light_get(self, job_id: str) -> JobRecord | None:
        return self.get(job_id, light=True)

    def _index_keys(self, client: redis.Redis, filter: JobFilter) -> list[str]:
        status = filter.status
        stored = _STORED if status is None else ("queued" if status in PENDING else status.value,)
        queues = [filter.queue] if filter.queue is not None else self._queues(client)
        return [self._redis.key("idx", s, q) for q in queues for s in stored]

    def _walk(
        self, client: redis.Redis, keys: list[str], below: int | None
    ) -> Iterator[tuple[int, str]]:
        """(seq, id) of the jobs in the index sets `keys` below sequence `below`, newest
        first; a job moving between sets meanwhile comes once. The first page of every set
        is read in one round trip (most of a store's sets are small or empty)."""
        top = "+inf" if below is None else f"({below}"
        first = 64  # a first page reads little of each set; then more
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.zrevrangebyscore(key, top, "-inf", 0, first, withscores=True)

        def walk(key: str, rows: list[tuple[str, float]]) -> Iterator[tuple[int, str]]:
            page = first
            while True:
                yield from ((int(score), str(member)) for member, score in rows)
                if len(rows) < page:
                    return
                start, page = f"({int(rows[-1][1])}", min(page * 4, _PAGE)
                rows = cast(
                    list[tuple[str, float]],
                    client.zrevrangebyscore(key, start, "-inf", 0, page, withscores=True),
                )

        merged: Iterator[tuple[int, str]] = heapq.merge(
            *(walk(k, rows) for k, rows in zip(keys, pipe.execute()) if rows),
            key=lambda row: -row[0],
        )
        seen: set[str] = set()
        for seq, job_id in merged:
            if job_id not in seen:
                seen.add(job_id)
                yield seq, job_id

    def _scheduled(
        self, client: redis.Redis, filter: JobFilter, below: int | None, now: float
    ) -> Iterator[tuple[int, str]]:
        """(seq, id) of the jobs not due yet below sequence `below`, newest first. They
        are in the scheduled sets, by run_at (at most `scan_limit` per queue are read),
        not behind a backlog of newer queued jobs in the index sets: their sequences are
        read and sorted."""
        queues = [filter.queue] if filter.queue is not None else self._queues(client)
        ids: list[str] = []
        for q in queues:
            key = self._redis.key("sched", q)
            ids += cast(
                list[str], client.zrangebyscore(key, f"({now!r}", "+inf", 0, self.scan_limit)
            )
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self._redis.key("job", job_id), "seq")
        rows = [(int(seq), job_id) for job_id, seq in zip(ids, pipe.execute()) if seq is not None]
        return iter([r for r in sorted(rows, reverse=True) if below is None or r[0] < below])

    def _matching(
        self, client: redis.Redis, filter: JobFilter, rows: Iterator[tuple[int, str]], now: float
    ) -> Iterator[tuple[int, str, bool]]:
        """(seq, id, whether it matches) of each row walked: lua/match_jobs.lua tests the
        fields the index sets cannot (task, search, scheduled vs queued), a batch of jobs
        a script, so none blocks Redis for long."""
        if filter.task is None and filter.search is None and filter.status not in PENDING:
            yield from ((seq, job_id, True) for seq, job_id in rows)
            return
        head = (
            filter.status.value if filter.status in PENDING else "",
            repr(now),
            *(("0", "") if filter.task is None else ("1", filter.task)),
            *(("0", "") if filter.search is None else ("1", filter.search)),
        )
        while batch := list(itertools.islice(rows, _PAGE)):
            found = set(self._redis.run("match_jobs", *head, *(job_id for _, job_id in batch)))
            yield from ((seq, job_id, job_id in found) for seq, job_id in batch)

    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        below = after_seq(after)
        now = time.time()
        if below is None and (exact := exact_match(self._light_get, filter, now)) is not None:
            return JobPage([exact], None)
        limit = max(1, limit)
        ids: list[tuple[int, str]] = []
        scanned, last = 0, 0
        more = False
        with self._redis.guard():
            client = self._redis.connection().client
            if filter.status is JobStatus.SCHEDULED:
                walked = self._scheduled(client, filter, below, now)
            else:
                walked = self._walk(client, self._index_keys(client, filter), below)
            for seq, job_id, match in self._matching(client, filter, walked, now):
                if scanned == self.scan_limit or (match and len(ids) == limit):
                    more = True
                    break
                scanned, last = scanned + 1, seq
                if match:
                    ids.append((seq, job_id))
            jobs = self._light_many(client, [job_id for _, job_id in ids])
        if not more:
            return JobPage(jobs, None)
        if len(ids) == limit:
            return JobPage(jobs, cursor(ids[-1][0]))
        return JobPage(jobs, cursor(last), scanned)

    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        cap = max(0, cap)
        now = time.time()
        with self._redis.guard():
            client = self._redis.connection().client
            keys = self._index_keys(client, filter)
            if filter.task is None and filter.search is None:
                return min(cap, self._indexed_count(client, filter, keys, now))
            walked = itertools.islice(self._walk(client, keys, None), self.scan_limit)
            matches = (1 for *_, match in self._matching(client, filter, walked, now) if match)
            return sum(itertools.islice(matches, cap))

    def _indexed_count(
        self, client: redis.Redis, filter: JobFilter, keys: list[str], now: float
    ) -> int:
        """The count of a filter the index sets answer: their sizes, less (or only) the
        pending jobs not due yet (the scheduled sets) for QUEUED (SCHEDULED)."""
        pipe = client.pipeline(transaction=True)  # one consistent snapshot
        for key in keys:
            pipe.zcard(key)
        queues = [k.rsplit(":", 1)[1] for k in keys] if filter.status in PENDING else []
        for q in queues:
            pipe.zcount(self._redis.key("sched", q), f"({now!r}", "+inf")
        replies = cast(list[int], pipe.execute())
        total, later = sum(replies[: len(keys)]), sum(replies[len(keys) :])
        if filter.status is JobStatus.SCHEDULED:
            return later
        return total - later

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(job_ids))
        return sum(
            int(self._redis.run("delete_jobs", *ids[i : i + _DELETE_BATCH]))
            for i in range(0, len(ids), _DELETE_BATCH)
        )

    def add_history(self, counts: Mapping[tuple[float, str, str], int]) -> None:
        if not counts:
            return
        minutes = self._redis.key("history")
        with self._redis.guard():
            pipe = self._redis.connection().client.pipeline(transaction=True)
            for (minute, queue, outcome), n in counts.items():
                at = repr(float(minute))
                pipe.zadd(minutes, {at: float(minute)})
                pipe.hincrby(f"{minutes}:{at}", f"{outcome} {queue}", n)
            pipe.execute()

    def history(self, since: float, step: float = 60.0) -> list[HistoryPoint]:
        found = self._redis.run("history", repr(float(since)), repr(float(step)))
        points = []
        for key, n in zip(found[::2], found[1::2]):
            start, outcome, queue = str(key).split(" ", 2)
            points.append(((float(start), queue, outcome), int(n)))
        return summed(points, step)

    def prune_history(self, before: float) -> int:
        pruned = 0
        while True:
            points, minutes = self._redis.run("prune_history", f"({float(before)!r}")
            pruned += int(points)
            if int(minutes) < 1000:
                return pruned

    def record_audit(self, entry: AuditEntry) -> None:
        data = asdict(entry)
        del data["seq"]
        self._redis.run("record_audit", json.dumps(data))

    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        top = "+inf" if before is None else f"({int(before)}"
        with self._redis.guard():
            client = self._redis.connection().client
            found = client.zrevrangebyscore(self._redis.key("audit"), top, "-inf", 0, limit)
        entries = []
        for member in cast(list[str], found):
            seq, data = member.split(" ", 1)
            entries.append(AuditEntry(**json.loads(data), seq=int(seq)))
        return entries


def _matches(filter: JobFilter, values: list[str | None], now: float) -> bool:
    """Whether a job read as [task, run_at, status, id, payload?] matches `filter`; the
    index sets answered its queue, and its status but for scheduled vs queued."""
    task, run_at, status, job_id, *payload = values
    if task is None or run_at is None or status is None or job_id is None:
        return False  # deleted since the index was read
    if filter.status in PENDING and (
        status != "queued" or pending_status(float(run_at), now) is not filter.status
    ):
        return False
    if filter.task is not None and task != filter.task:
        return False
    if filter.search is None:
        return True
    return filter.search == job_id or filter.search in task or filter.search in (payload[0] or "")
