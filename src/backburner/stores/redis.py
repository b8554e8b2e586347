"""`redis://host:6379/0?prefix=bb` (also rediss:// and unix://): jobs in Redis.

Every state change is one Lua script from `stores/lua/`, run by SHA, so it is atomic
with respect to every other client. `?prefix=` isolates apps sharing a server. All keys
of one prefix share the hash tag `{prefix}`, which scripts get as KEYS[1] and build every
other key from: that is what makes undeclared keys safe on Redis Cluster (one slot, the
one KEYS[1] routes to). Scripts never use KEYS or SCAN.

    {p}:job:<id>              hash: the job's fields ('queued' for every pending job)
    {p}:seq                   counter: enqueue order (FIFO, newest-first listing)
    {p}:queues                set: every queue name seen, for claims on every queue
    {p}:ready:<queue>         zset: due jobs; score -priority, member "<run_at><seq>|<id>"
    {p}:sched:<queue>         zset: future jobs by run_at; the claim script promotes them
    {p}:leases                zset: running jobs by lease deadline, for rescue
    {p}:finished              zset: finished jobs by finished_at, for purge and prune
    {p}:idx:<status>:<queue>  zset: jobs by enqueue sequence, for listing and counts
    {p}:unique                hash: unique_key -> id of the live job holding it
    {p}:logs:<id>             list: the job's log, item n being line n (JSON), deleted
                              with the job
    {p}:wake:<queue>          list: a token per job made ready, at most 16; idle workers
                              BLPOP it (and {p}:wake, told of new queues)
    {p}:idlers, {p}:hand:<h>  hash and list: waiting workers, and the job an enqueue
                              handed one, claimed (see redis_handoff)
    {p}:halt:<h>              list: a waiting worker thread's, pushed to when its
                              process stops (see redis_handoff.Halts)
    {p}:workers, {p}:beats    hash and zset: the worker registry

Durability: a job survives a Redis restart only if Redis persists it; run Redis with
`appendonly yes` (`appendfsync always` so no acknowledged write is lost, `everysec` to
risk the last second) and `maxmemory-policy noeviction`, so keys are never evicted.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any, cast

from .. import defaults
from ..job import FINISHED, PENDING, Failure, JobRecord, JobStatus, pending_status
from ..policy import Ending
from . import deps, redis_limits
from .base import Done, HeartbeatReply, Store, StoreStats, WorkerInfo, check_statuses
from .redis_conn import Client, RedisConnector, own_options, parse_url
from .redis_dashboard import RedisDashboard
from .redis_handoff import HALT_TTL_MS, Halts, HandOffs
from .redis_logs import RedisLogs
from .redis_ticks import RedisTicks

log = logging.getLogger("backburner.store")
# Statuses as stored: a pending job is 'queued' whatever its run_at.
_STORED = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
_BATCH = 500  # jobs per claim, end_attempts or purge run, so none blocks Redis for long
# Statuses an attempt may end in, as the end_attempts script takes them.
_ENDS = ("queued", "succeeded", "failed", "cancelled")


def check_url(url: str) -> None:
    """What `stores.check_url` checks of a Redis URL: its options. Connects to nothing."""
    parse_url(url)
    own_options(url)


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


# what get(light=True) reads of a job's hash: every field but the arguments and the
# failure history, which may be large; "id" first, as the sign the job exists
_LIGHT_FIELDS = tuple(
    f.name for f in dataclasses.fields(JobRecord) if f.name not in ("payload", "failures")
)


def _record(f: Mapping[str, str], now: float) -> JobRecord:
    status = JobStatus(f["status"])
    run_at = float(f["run_at"])
    if status is JobStatus.QUEUED:
        status = pending_status(run_at, now)
    progress = f.get("progress")
    failures = f["failures"]
    return JobRecord.stored(
        {
            "id": f["id"],
            "task": f["task"],
            "queue": f["queue"],
            "payload": f["payload"],
            "priority": int(f["priority"]),
            "status": status,
            "run_at": run_at,
            "created_at": float(f["created_at"]),
            "max_attempts": int(f["max_attempts"]),
            "retry_backoff": float(f["retry_backoff"]),
            "timeout": _opt_float(f.get("timeout")),
            "unique_key": f.get("unique_key"),
            "attempts": int(f["attempts"]),
            "token": int(f["token"]),
            "worker_id": f.get("worker_id"),
            "lease_until": _opt_float(f.get("lease_until")),
            "started_at": _opt_float(f.get("started_at")),
            "finished_at": _opt_float(f.get("finished_at")),
            "result": f.get("result"),
            "error": f.get("error"),
            # most jobs never failed: an empty history skips the JSON decoding
            "failures": ()
            if failures == "[]"
            else tuple(Failure.from_json(x) for x in json.loads(failures)),
            "progress": None if progress is None else json.loads(progress),
            "cancel_requested": f.get("cancel_requested") == "1",
            "cancel_grace": _opt_float(f.get("cancel_grace")),
            "trace_context": f.get("trace_context"),
            "schedule": f.get("schedule"),
            "scheduled_for": _opt_float(f.get("scheduled_for")),
            "depends_on": tuple(json.loads(f["depends_on"])) if "depends_on" in f else (),
            "takes_results": f.get("takes_results") == "1",
            "concurrency": _opt_int(f.get("concurrency")),
            "concurrency_key": f.get("concurrency_key"),
            "rate_limit": _opt_int(f.get("rate_limit")),
            "rate_period": _opt_float(f.get("rate_period")),
            "rate_key": f.get("rate_key"),
        }
    )


def _light_record(values: Sequence[str | None], now: float) -> JobRecord | None:
    """The light record of a job's `_LIGHT_FIELDS` values; None when it has no id (no such
    job)."""
    if values[0] is None:
        return None
    found = {k: v for k, v in zip(_LIGHT_FIELDS, values) if v is not None}
    return _record({**found, "payload": "", "failures": "[]"}, now)


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2]))


def _failure_tail(at: float, error: str) -> str:
    """A failure's JSON object without its opening brace and attempt (the script adds it)."""
    return json.dumps({"at": at, "error": error})[1:]


def _opt_time(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _ending_args(e: Ending) -> tuple[Any, ...]:
    """An Ending as the end_attempts script takes it (see lua/end_attempts.lua)."""
    ends = (JobStatus(e.status).value, JobStatus(e.if_cancelled).value)
    if any(s not in _ENDS for s in ends):
        raise ValueError(f"an attempt ends queued, succeeded, failed or cancelled, not {ends}")
    tail = _failure_tail(e.at, e.error) if e.error is not None and e.in_history else ""
    failure = (e.error or "", tail)
    return (
        e.job_id,
        int(e.token),
        *ends,
        repr(float(e.at)),
        _opt_time(e.run_at),
        "1" if e.counted else "0",
        _opt_time(e.lapsed_before),
        *failure,
    )


def _shape_args(
    task: str,
    queue: str,
    priority: int,
    run_at: float,
    created_at: float,
    max_attempts: int,
    retry_backoff: float,
    timeout: float | None,
    unique_key: str | None,
    depends_on: tuple[str, ...],
    takes_results: bool,
    concurrency: int | None,
    concurrency_key: str | None,
    rate_limit: int | None,
    rate_period: float | None,
    rate_key: str | None,
) -> tuple[Any, ...]:
    """What jobs of one shape share, as the enqueue script takes it (lua/enqueue.lua)."""
    return (
        task,
        queue,
        priority,
        repr(float(run_at)),
        repr(float(created_at)),
        max_attempts,
        repr(float(retry_backoff)),
        "" if timeout is None else repr(float(timeout)),
        "0" if unique_key is None else "1",
        unique_key or "",
        json.dumps(depends_on) if depends_on else "",
        "1" if takes_results else "0",
        "" if concurrency is None else concurrency,
        concurrency_key or "",
        "" if rate_limit is None else rate_limit,
        "" if rate_period is None else repr(float(rate_period)),
        rate_key or "",
    )


def _plain(r: JobRecord) -> bool:
    """Whether lua/enqueue_one.lua can store `r`: no unique_key, dependencies or limits."""
    return (
        r.unique_key is None
        and not r.depends_on
        and not r.takes_results
        and r.concurrency is None
        and r.rate_limit is None
    )


def _enqueue_one_args(r: JobRecord) -> tuple[Any, ...]:
    """lua/enqueue_one.lua's ARGV for a `_plain` job: numbers as `_shape_args` writes them,
    so it is stored as enqueue.lua would store it."""
    return (
        repr(time.time()),
        r.id,
        r.payload,
        r.task,
        r.queue,
        r.priority,
        repr(float(r.run_at)),
        repr(float(r.created_at)),
        r.max_attempts,
        repr(float(r.retry_backoff)),
        "" if r.timeout is None else repr(float(r.timeout)),
        r.trace_context or "",
    )


def _result_args(result: str | None) -> tuple[str, str]:
    """has_result and result, as the complete scripts take them."""
    return ("0", "") if result is None else ("1", result)


def _complete_args(job_id: str, token: int, now: float, result: str | None) -> tuple[Any, ...]:
    return job_id, token, repr(now), *_result_args(result)


def _claim_args(
    queues: Sequence[str] | None, worker_id: str, limit: int, lease_until: float, hand: str
) -> tuple[Any, ...]:
    # "up to" `limit`: capped so one script stays short and within Lua's unpack() limit
    return repr(lease_until), worker_id, min(limit, _BATCH), hand, *(queues or ())


class RedisStore(RedisTicks, RedisLogs, redis_limits.RedisFlowControl, RedisDashboard, Store):
    """Jobs in Redis, shared by every process and machine that can reach the server."""

    def __init__(self, url: str, *, result_ttl: float = defaults.RESULT_TTL) -> None:
        super().__init__(url, result_ttl=result_ttl)
        self._redis = RedisConnector(url)
        self._handoffs = HandOffs()
        self._halts = Halts()
        #: the namespace of this store's keys (URL option ?prefix=, default "bb")
        self.prefix = self._redis.prefix

    def _queues(self, client: Client) -> list[str]:
        return sorted(str(q) for q in client.smembers(self._redis.key("queues")))

    # -- producing ---------------------------------------------------------------------
    def enqueue(self, records: Sequence[JobRecord]) -> list[str]:
        if not records:
            return []
        if len(records) == 1 and _plain(records[0]):  # a delay(): the lean script
            stored, found = self._redis.run("enqueue_one", *_enqueue_one_args(records[0]))
        else:
            stored, found = self._redis.run("enqueue", *self._enqueue_args(records))
        if stored == 2:
            raise deps.unknown(*found)
        if not stored:
            raise ValueError(f"job id(s) already stored or repeated: {found}; nothing was enqueued")
        ids = [r.id for r in records]
        for position, holder in zip(found[::2], found[1::2]):
            ids[int(position) - 1] = str(holder)  # deduplicated: the live job's id
        return ids

    @staticmethod
    def _enqueue_args(records: Sequence[JobRecord]) -> list[Any]:
        """lua/enqueue.lua's ARGV for `records` (lua/tick.lua passes them on to it)."""
        shapes: dict[tuple[Any, ...], int] = {}  # what jobs share: see lua/enqueue.lua
        jobs: list[Any] = []
        for r in records:
            shape = (
                r.task,
                r.queue,
                r.priority,
                r.run_at,
                r.created_at,
                r.max_attempts,
                r.retry_backoff,
                r.timeout,
                r.unique_key,
                r.depends_on,
                r.takes_results,
                r.concurrency,
                r.concurrency_key,
                r.rate_limit,
                r.rate_period,
                r.rate_key,
            )
            number = shapes.get(shape)
            if number is None:
                number = shapes[shape] = len(shapes) + 1
            jobs += (r.id, r.payload, number, r.trace_context or "")
        args: list[Any] = [repr(time.time()), len(shapes)]
        for shape in shapes:
            args += _shape_args(*shape)
        # One script for the whole batch, however long: Redis runs it alone, so it is all
        # or nothing (it checks everything before its first write), and other clients
        # wait for it (10 to 20 ms per 1,000 jobs, measured on 2 busy cores).
        return args + jobs

    # -- consuming ---------------------------------------------------------------------
    def complete_and_claim(
        self,
        done: Sequence[Done],
        queues: Sequence[str] | None,
        worker_id: str,
        limit: int,
        lease_s: float,
    ) -> tuple[list[bool], list[JobRecord]]:
        """All in one script: one round trip per batch on a busy worker. A job an enqueue
        handed to this thread while it waited (see redis_handoff) comes first, with no
        round trip at all when there is nothing to record."""
        me = self._handoffs.mine()
        me.worker_id, me.lease_s = worker_id, lease_s
        handed, me.handed = me.handed, []
        if handed and not done:
            return [], handed  # claimed by the enqueue (at most one per wait)
        if queues is not None and not queues:
            limit = 0
        if not done and limit <= 0 and not me.registered:
            return [], []
        hand = me.hand if me.registered else ""
        me.registered = False
        now = time.time()
        args = [repr(now), len(done)]
        for d in done:
            args += (d.job_id, d.token, *_result_args(d.result))
        claim = _claim_args(queues, worker_id, max(limit - len(handed), 0), now + lease_s, hand)
        try:
            accepted, rows = self._redis.run("complete_claim", *args, *claim)
        except BaseException:  # kept for the next try, as the caller keeps `done`
            me.handed[:0], me.registered = handed, bool(hand)
            raise
        claimed = [_record(_pairs(row), now) for row in rows]
        return [bool(a) for a in accepted], handed + claimed

    def claim_job(self, job_id: str, worker_id: str, lease_s: float) -> JobRecord | None:
        now = time.time()
        row = self._redis.run("claim_job", job_id, repr(now), repr(now + lease_s), worker_id)
        return _record(_pairs(row), now) if row else None

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease_s: float
    ) -> HeartbeatReply:
        if not leases:
            return HeartbeatReply()
        pairs = [x for job_id, token in leases.items() for x in (job_id, token)]
        lost, cancel, forced = self._redis.run("heartbeat", repr(time.time() + lease_s), *pairs)
        graces = {job_id: float(grace) for job_id, grace in _pairs(forced).items()}
        return HeartbeatReply(frozenset(lost), frozenset(cancel), graces)

    def complete(self, job_id: str, token: int, result: str | None) -> bool:
        args = _complete_args(job_id, token, time.time(), result)
        return bool(self._redis.run("complete", *args))

    def end_attempts(self, endings: Sequence[Ending]) -> list[JobStatus | None]:
        """One script per batch of up to 500 endings, each applied atomically."""
        statuses: list[JobStatus | None] = []
        for i in range(0, len(endings), _BATCH):
            args: list[Any] = [repr(time.time())]
            for e in endings[i : i + _BATCH]:
                args += _ending_args(e)
            statuses += (
                JobStatus(s) if s else None for s in self._redis.run("end_attempts", *args)
            )
        return statuses

    def set_progress(self, job_id: str, token: int, progress: Mapping[str, Any]) -> bool:
        return bool(self._redis.run("progress", job_id, token, json.dumps(dict(progress))))

    def lapsed(self, now: float, limit: int) -> list[JobRecord]:
        if limit <= 0:
            return []
        rows = self._redis.run("lapsed", repr(float(now)), int(limit))
        seen = time.time()
        return [_record(_pairs(row), seen) for row in rows]

    def wait_for_work(self, queues: Sequence[str] | None, timeout: float) -> None:
        if self._halts.stopped.is_set():
            return
        if queues is not None and not queues:
            self._halts.stopped.wait(max(0.0, timeout))
            return
        which = ("*",) if queues is None else ("-", *queues)
        me = self._handoffs.mine()
        hand = me.hand if me.worker_id else ""  # a thread that never claimed is handed nothing
        ready, next_due, names = self._redis.run(
            "peek", repr(time.time()), hand, repr(timeout), repr(me.lease_s), me.worker_id, *which
        )
        if ready:
            return
        me.registered = bool(hand)
        now = time.time()
        wait = timeout if next_due == "" else min(timeout, float(next_due) - now)
        if wait < 0.001:  # BLPOP counts in milliseconds, and 0 would block forever
            return
        # Enqueues push a token to their queue's list; a new queue also to "wake", so
        # waiters on every queue learn of it.
        keys = [self._redis.key("wake", q) for q in names]
        if queues is None:
            keys.append(self._redis.key("wake"))
        mine = self._redis.key("hand", hand)
        if hand:
            keys.insert(0, mine)
        halt = self._redis.key("halt", me.hand)  # stop_waiting() pushes to it
        keys.append(halt)
        if self._halts.enter(halt):
            try:
                with self._redis.guard():
                    conn = self._redis.connection()
                    # a BLPOP longer than the socket timeout would look like a dead server
                    popped = conn.client.blpop(keys, timeout=min(wait, conn.max_block))
            finally:
                self._halts.leave(halt)
            if popped is not None and popped[0] == mine:
                me.handed.append(_record(_pairs(json.loads(popped[1])), time.time()))
                me.registered = False  # the enqueue took the registration with the job
        if self._halts.stopped.is_set() and me.registered:
            # no hand-off to a thread that stopped waiting (its worker is stopping): the
            # jobs handed meanwhile come back to it, for the worker to hand back uncounted
            _, me.handed = self.complete_and_claim([], queues, me.worker_id, 0, me.lease_s)

    def stop_waiting(self) -> None:
        halts = self._halts.stop()
        if not halts:
            return
        try:
            with self._redis.guard():
                # MULTI: a connection dropped midway leaves no halt list without its TTL
                pipe = self._redis.connection().client.pipeline(transaction=True)
                for key in halts:
                    pipe.rpush(key, "stop")
                    pipe.pexpire(key, HALT_TTL_MS)
                pipe.execute()
        except Exception as exc:  # they wait out their timeout, as before the stop
            log.warning("could not wake this worker's threads waiting for work: %s", exc)

    def handed_over(self) -> bool:
        return bool(self._handoffs.mine().handed)

    # -- reading and operating ---------------------------------------------------------
    def _fetch(self, client: Client, ids: Iterable[str], now: float) -> list[JobRecord]:
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self._redis.key("job", job_id))
        return [_record(f, now) for f in pipe.execute() if f]

    def get(self, job_id: str, *, light: bool = False) -> JobRecord | None:
        key = self._redis.key("job", job_id)
        with self._redis.guard():
            client = self._redis.connection().client
            if not light:
                fields = cast(dict[str, str], client.hgetall(key))
                return _record(fields, time.time()) if fields else None
            values = cast(list[Any], client.hmget(key, _LIGHT_FIELDS))
        return _light_record(values, time.time())

    def _light_many(self, client: Client, ids: Iterable[str]) -> list[JobRecord]:
        """`get(job_id, light=True)` of each id, in one round trip; unknown ids left out."""
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self._redis.key("job", job_id), _LIGHT_FIELDS)
        now = time.time()
        return [r for r in (_light_record(v, now) for v in pipe.execute()) if r is not None]

    def _newest(self, client: Client, keys: list[str], page: int) -> Iterator[str]:
        """Ids in the index sets `keys`, newest (highest sequence) first."""

        def walk(key: str) -> Iterator[tuple[str, float]]:
            for start in itertools.count(0, page):
                rows: list[Any] = client.zrevrange(key, start, start + page - 1, withscores=True)
                yield from ((str(m), float(s)) for m, s in rows)
                if len(rows) < page:
                    return

        seen: set[str] = set()  # a job moving between sets while we page may show twice
        for job_id, _ in heapq.merge(*(walk(k) for k in keys), key=lambda row: -row[1]):
            if job_id not in seen:
                seen.add(job_id)
                yield job_id

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        queue: str | None = None,
        task: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        now = time.time()
        stored = _STORED if status is None else ("queued" if status in PENDING else status.value,)
        # Scheduled vs queued and the task are not indexed: those filters read the jobs.
        filtered = task is not None or status in PENDING
        with self._redis.guard():
            client = self._redis.connection().client
            queues = [queue] if queue is not None else self._queues(client)
            keys = [self._redis.key("idx", s, q) for q in queues for s in stored]
            page = 200 if filtered else max(16, min(offset + limit, 1000))
            ids = self._newest(client, keys, page)
            if not filtered:
                return self._fetch(client, itertools.islice(ids, offset, offset + limit), now)
            found: list[JobRecord] = []
            while len(found) < offset + limit and (chunk := list(itertools.islice(ids, page))):
                found += [
                    r
                    for r in self._fetch(client, chunk, now)
                    if (status is None or r.status is status) and (task is None or r.task == task)
                ]
        return found[offset : offset + limit]

    def counts(self) -> dict[str, dict[JobStatus, int]]:
        now = time.time()
        with self._redis.guard():
            client = self._redis.connection().client
            queues = self._queues(client)
            pipe = client.pipeline(transaction=True)  # one consistent snapshot
            for q in queues:
                for s in _STORED:
                    pipe.zcard(self._redis.key("idx", s, q))
                pipe.zcount(self._redis.key("sched", q), f"({now!r}", "+inf")
            replies = pipe.execute()
        out: dict[str, dict[JobStatus, int]] = {}
        width = len(_STORED) + 1
        for i, q in enumerate(queues):
            row = replies[i * width : (i + 1) * width]
            per = dict(zip((JobStatus(s) for s in _STORED), row[:-1]))
            per[JobStatus.SCHEDULED] = row[-1]
            per[JobStatus.QUEUED] -= row[-1]
            kept = {s: int(n) for s, n in per.items() if n}
            if kept:
                out[q] = kept
        return out

    def cancel(self, job_id: str, *, grace: float | None = None) -> bool:
        return bool(self._redis.run("cancel", job_id, repr(time.time()), _opt_time(grace)))

    def count_ahead(self, job_id: str, limit: int) -> int:
        return int(self._redis.run("ahead", job_id, repr(time.time()), max(0, int(limit))))

    def stats(self, now: float, alive_since: float) -> StoreStats:
        [workers, *found] = self._redis.run("stats", repr(float(now)), repr(float(alive_since)))
        jobs: dict[str, dict[JobStatus, int]] = {}
        oldest: dict[str, float] = {}
        for i in range(0, len(found), 6):
            queue, due, later, running, waiting, first = found[i : i + 6]
            counts = {
                JobStatus.QUEUED: due,
                JobStatus.SCHEDULED: later,
                JobStatus.RUNNING: running,
                JobStatus.WAITING: waiting,
            }
            jobs[str(queue)] = {s: int(n) for s, n in counts.items() if n}
            if first:
                oldest[str(queue)] = float(first)
        return StoreStats(jobs, oldest, int(workers))

    def retry(self, job_id: str) -> bool:
        return bool(self._redis.run("retry", job_id, repr(time.time())))

    def purge(
        self, *, statuses: Collection[JobStatus] = FINISHED, older_than: float | None = None
    ) -> int:
        check_statuses(statuses)
        if not statuses:
            return 0
        cutoff = "+inf" if older_than is None else f"({float(older_than)!r}"
        names = [s.value for s in statuses]
        total = offset = 0
        while True:
            deleted, removed, examined = self._redis.run("purge", cutoff, offset, _BATCH, *names)
            total += int(deleted)
            offset += examined - removed  # entries kept (other statuses) stay in the index
            if examined < _BATCH:
                return total

    def dependent_ids(self, job_id: str) -> list[str]:
        with self._redis.guard():
            client = self._redis.connection().client
            found = sorted(str(d) for d in client.smembers(self._redis.key("deps", job_id)))
            pipe = client.pipeline(transaction=False)
            for dependent in found:
                pipe.hget(self._redis.key("job", dependent), "seq")
            seqs = pipe.execute()
        return [d for _, d in sorted(zip((int(q or 0) for q in seqs), found))]

    # -- workers -----------------------------------------------------------------------
    def record_worker(self, info: WorkerInfo) -> None:
        entry = json.dumps(asdict(info))
        with self._redis.guard():
            pipe = self._redis.connection().client.pipeline(transaction=True)
            pipe.hset(self._redis.key("workers"), info.id, entry)
            pipe.zadd(self._redis.key("beats"), {info.id: info.heartbeat_at})
            pipe.execute()

    def remove_worker(self, worker_id: str) -> None:
        with self._redis.guard():
            pipe = self._redis.connection().client.pipeline(transaction=True)
            pipe.hdel(self._redis.key("workers"), worker_id)
            pipe.zrem(self._redis.key("beats"), worker_id)
            pipe.execute()

    def list_workers(self, alive_since: float) -> list[WorkerInfo]:
        entries = self._redis.run("workers", repr(float(alive_since)))
        workers = []
        for entry in entries:
            fields = json.loads(entry)
            for name in ("queues", "jobs", "tasks"):
                fields[name] = tuple(fields.get(name, ()))
            workers.append(WorkerInfo(**fields))
        return sorted(workers, key=lambda w: w.started_at)

    def close(self) -> None:
        self._redis.close()
