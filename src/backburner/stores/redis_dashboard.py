"""The Redis store's dashboard methods (a mixin): finding, counting and deleting jobs,
history points and the audit log.

`find_jobs` merges the per-queue, per-status index sets (`{p}:idx:<status>:<queue>`,
scored by enqueue sequence) newest first from the cursor, so a page of a status or a
queue reads only that page. Filters no index answers (task, search, scheduled vs queued)
are tested on the server by lua/find_window.lua over a window of `scan_limit` sequence
numbers below the cursor (lower than the SQL stores'), 2,000 a script: every job is in
one index set, so the window holds at most that many jobs. Scheduled jobs are read from
the scheduled sets instead while those hold at most `scan_limit` (see `_scheduled`).
Deletes and the audit log's numbering run as scripts too (lua/delete_jobs.lua,
record_audit.lua).

    {p}:history              zset: the minutes with history, scored by minute
    {p}:history:<minute>     hash: "<outcome> <queue>" -> count (HINCRBY sums writers);
                             lua/history.lua sums them into buckets on the server
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
from typing import TYPE_CHECKING, Any, cast

from ..job import PENDING, JobRecord, JobStatus
from .base import AuditEntry, HistoryPoint, JobFilter, JobPage
from .dashboard import after_seq, check_step, cursor, exact_match

if TYPE_CHECKING:
    from .redis_conn import Client, RedisConnector

_STORED = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
_PAGE = 500  # index entries per ZREVRANGEBYSCORE
_CHUNK = 2000  # sequence numbers per find_window script, so none blocks Redis for long
_DELETE_BATCH = 500  # jobs per delete_jobs script, so none blocks Redis for long


class RedisDashboard:
    """`find_jobs`, `count_jobs`, `delete_jobs`, history and audit of RedisStore."""

    scan_limit = 20_000

    if TYPE_CHECKING:
        _redis: RedisConnector

        def _queues(self, client: Client) -> list[str]: ...

        def _light_many(self, client: Client, ids: Iterable[str]) -> list[JobRecord]: ...

        def get(self, job_id: str, *, light: bool = False) -> JobRecord | None: ...

    def _light_get(self, job_id: str) -> JobRecord | None:
        return self.get(job_id, light=True)

    def _index_sets(self, client: Client, filter: JobFilter) -> list[tuple[str, str]]:
        """(status, queue) of the index sets holding the jobs of `filter`'s status and
        queue (every one when None)."""
        status = filter.status
        stored = _STORED if status is None else ("queued" if status in PENDING else status.value,)
        queues = [filter.queue] if filter.queue is not None else self._queues(client)
        return [(s, q) for q in queues for s in stored]

    def _index_keys(self, client: Client, filter: JobFilter) -> list[str]:
        return [self._redis.key("idx", s, q) for s, q in self._index_sets(client, filter)]

    def _walk(
        self, client: Client, keys: list[str], below: int | None
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

    def find_jobs(self, filter: JobFilter, *, after: str | None = None, limit: int = 50) -> JobPage:
        below = after_seq(after)
        now = time.time()
        if below is None and (exact := exact_match(self._light_get, filter, now)) is not None:
            return JobPage([exact], None)
        limit = max(1, limit)
        with self._redis.guard():
            client = self._redis.connection().client
            if filter.status is JobStatus.SCHEDULED:
                ids, last, scanned = self._scheduled(client, filter, below, limit + 1, now)
            elif _checked(filter):
                ids, last, scanned = self._scan(client, filter, below, limit + 1, now)
            else:  # the index sets answer it: read just the page
                walked = self._walk(client, self._index_keys(client, filter), below)
                ids = list(itertools.islice(walked, limit + 1))
                last, scanned = None, None
            jobs = self._light_many(client, [job_id for _, job_id in ids[:limit]])
        if len(ids) > limit:
            return JobPage(jobs, cursor(ids[limit - 1][0]))
        return JobPage(jobs, None if last is None else cursor(last), scanned)

    def _scheduled(
        self, client: Client, filter: JobFilter, below: int | None, most: int, now: float
    ) -> tuple[list[tuple[int, str]], int | None, int | None]:
        """Up to `most` (seq, id) of jobs not due yet matching `filter`, newest first, and
        as `_scan` says where a page that stopped short of them ended.

        They are in the scheduled sets, by run_at, not behind a backlog of newer queued
        jobs as in a window of sequence numbers: while those sets hold at most
        `scan_limit` jobs in all, each is read, with its fields, and sorted by sequence.
        Beyond that, the ones due soonest are not the newest, and reading them all for
        each page would cost too much: the window of `_scan` answers, and its page says
        how many jobs it searched."""
        queues = [filter.queue] if filter.queue is not None else self._queues(client)
        keys = [self._redis.key("sched", q) for q in queues]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.zcount(key, f"({now!r}", "+inf")
        if sum(cast(list[int], pipe.execute())) > self.scan_limit:
            return self._scan(client, filter, below, most, now)
        pipe = client.pipeline(transaction=False)
        for key in keys:  # capped all the same: jobs may have been scheduled since
            pipe.zrangebyscore(key, f"({now!r}", "+inf", 0, self.scan_limit)
        ids = [job_id for found in cast(list[list[str]], pipe.execute()) for job_id in found]
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self._redis.key("job", job_id), ["seq", "status", "task", "payload"])
        found = []
        for job_id, (seq, status, task, payload) in zip(ids, pipe.execute()):
            text = filter.search
            if (
                status == "queued"
                and (below is None or int(seq) < below)
                and (filter.task is None or task == filter.task)
                and (text is None or text == job_id or text in task or text in payload)
            ):
                found.append((int(seq), job_id))
        return sorted(found, reverse=True)[:most], None, None

    def _scan(
        self, client: Client, filter: JobFilter, below: int | None, most: int, now: float
    ) -> tuple[list[tuple[int, str]], int | None, int | None]:
        """Up to `most` (seq, id) matching `filter` in the window of `scan_limit` sequence
        numbers below `below`, read by lua/find_window.lua in chunks; then, unless the
        matches filled it, the window's low end (None: no older job) and how many jobs it
        held."""
        found: list[tuple[int, str]] = []
        high = int(client.get(self._redis.key("seq")) or 0) if below is None else below - 1
        floor = max(1, high - self.scan_limit + 1)
        examined = 0
        while high >= floor and len(found) < most:
            low = max(floor, high - _CHUNK + 1)
            seen, ids, seqs = self._run_window(client, filter, high, low, most - len(found), now)
            examined += seen
            found += zip(seqs, ids)
            high = low - 1
        if len(found) >= most or floor == 1:
            return found, None, None
        return found, floor, examined

    def _run_window(
        self,
        client: Client,
        filter: JobFilter,
        high: int,
        low: int,
        most: int,
        now: float,
        count_only: bool = False,
    ) -> tuple[int, Any, list[int]]:
        sets = [x for pair in self._index_sets(client, filter) for x in pair]
        seen, matches, seqs = self._redis.run(
            "find_window",
            high,
            low,
            most,
            "1" if count_only else "0",
            filter.status.value if filter.status in PENDING else "",
            repr(now),
            *(("0", "") if filter.task is None else ("1", filter.task)),
            *(("0", "") if filter.search is None else ("1", filter.search)),
            *sets,
        )
        return int(seen), matches, [int(x) for x in seqs]

    def count_jobs(self, filter: JobFilter, cap: int) -> int:
        cap = max(0, cap)
        now = time.time()
        with self._redis.guard():
            client = self._redis.connection().client
            if not (filter.task is None and filter.search is None):
                high = int(client.get(self._redis.key("seq")) or 0)
                floor = max(1, high - self.scan_limit + 1)
                count = 0
                while high >= floor and count < cap:
                    low = max(floor, high - _CHUNK + 1)
                    count += int(
                        self._run_window(client, filter, high, low, cap - count, now, True)[1]
                    )
                    high = low - 1
                return count
            return min(cap, self._indexed_count(client, filter, now))

    def _indexed_count(self, client: Client, filter: JobFilter, now: float) -> int:
        """The count of a filter the index sets answer: their sizes, less (or only) the
        pending jobs not due yet (the scheduled sets) for QUEUED (SCHEDULED)."""
        sets = self._index_sets(client, filter)
        pipe = client.pipeline(transaction=True)  # one consistent snapshot
        for status, queue in sets:
            pipe.zcard(self._redis.key("idx", status, queue))
        queues = [q for _, q in sets] if filter.status in PENDING else []
        for q in queues:
            pipe.zcount(self._redis.key("sched", q), f"({now!r}", "+inf")
        replies = cast(list[int], pipe.execute())
        total, later = sum(replies[: len(sets)]), sum(replies[len(sets) :])
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

    def history(self, since: float, *, step: int = 60) -> list[HistoryPoint]:
        flat = self._redis.run("history", repr(float(since)), check_step(step))
        points = []
        for key, n in zip(flat[::2], flat[1::2]):
            bucket, outcome, queue = key.split(" ", 2)
            points.append(HistoryPoint(float(bucket), queue, outcome, int(n)))
        return sorted(points, key=lambda p: (p.minute, p.queue, p.outcome))

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


def _checked(filter: JobFilter) -> bool:
    """Whether `filter` needs the jobs' fields (the index sets answer the rest)."""
    return filter.task is not None or filter.search is not None or filter.status in PENDING
