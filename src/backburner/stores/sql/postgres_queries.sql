-- The PostgreSQL store's statements, for the schema the postgres_NNNN_*.sql files build.
-- Each starts with "-- name: NAME". {jobs} and {workers} become the schema-qualified
-- tables and {columns} the JobRecord columns and seq (rows.JOB_SELECT), which
-- stores/rows.py reads by name.
--
-- Statements that make a job pending end with the same tail: it calls pg_notify once per
-- queue that got a pending job (delivered at commit, so workers never see a job before
-- it exists) and returns one row per job changed.
-- Status filters are literals, never parameters, so the planner matches partial indexes.

-- name: insert
-- One statement for a whole batch; ORDER BY ord hands out seq in list order. The arrays
-- are sent in binary (%(x)b): psycopg's text form scans every string for quoting. A record
-- whose unique_key a live job holds is skipped here, and resolved by live_keys.
WITH input AS (
    SELECT * FROM unnest(
        %(id)b::text[], %(task)b::text[], %(queue)b::text[], %(payload)b::text[],
        %(priority)b::bigint[], %(run_at)b::float8[], %(created_at)b::float8[],
        %(max_attempts)b::integer[], %(retry_backoff)b::float8[], %(timeout)b::float8[],
        %(unique_key)b::text[], %(status)b::text[], %(waiting_for)b::integer[],
        %(error)b::text[], %(finished_at)b::float8[], %(depends_on)b::text[],
        %(takes_results)b::boolean[], %(trace_context)b::text[], %(concurrency)b::integer[],
        %(concurrency_key)b::text[], %(rate_limit)b::integer[], %(rate_period)b::float8[],
        %(rate_key)b::text[]
    ) WITH ORDINALITY AS r(id, task, queue, payload, priority, run_at, created_at,
                           max_attempts, retry_backoff, timeout, unique_key, status,
                           waiting_for, error, finished_at, depends_on, takes_results,
                           trace_context, concurrency, concurrency_key, rate_limit,
                           rate_period, rate_key, ord)
), changed AS (
    INSERT INTO {jobs} (id, task, queue, payload, priority, run_at, created_at,
                        max_attempts, retry_backoff, timeout, unique_key, status,
                        waiting_for, error, finished_at, depends_on, takes_results,
                        trace_context, concurrency, concurrency_key, rate_limit,
                        rate_period, rate_key)
    SELECT id, task, queue, payload, priority, run_at, created_at,
           max_attempts, retry_backoff, timeout, unique_key, status,
           waiting_for, error, finished_at, depends_on::jsonb, takes_results, trace_context,
           concurrency, concurrency_key, rate_limit, rate_period, rate_key
    FROM input ORDER BY ord
    ON CONFLICT (unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('waiting', 'queued', 'running') DO NOTHING
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: insert_one
-- The usual case, one job (a delay()): as insert, but cheaper to plan and to run.
INSERT INTO {jobs} (id, task, queue, payload, priority, run_at, created_at,
                    max_attempts, retry_backoff, timeout, unique_key, status,
                    waiting_for, error, finished_at, depends_on, takes_results, trace_context,
                    concurrency, concurrency_key, rate_limit, rate_period, rate_key)
VALUES (%(id)s, %(task)s, %(queue)s, %(payload)s, %(priority)s, %(run_at)s,
        %(created_at)s, %(max_attempts)s, %(retry_backoff)s, %(timeout)s, %(unique_key)s,
        %(status)s, %(waiting_for)s, %(error)s, %(finished_at)s, %(depends_on)s::jsonb,
        %(takes_results)s, %(trace_context)s, %(concurrency)s, %(concurrency_key)s,
        %(rate_limit)s, %(rate_period)s, %(rate_key)s)
ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('waiting', 'queued', 'running') DO NOTHING
RETURNING id, pg_notify(%(channel)s, queue);

-- name: copy_jobs
-- A big batch of plain jobs (no unique_key, no dependencies), each 'queued'.
COPY {jobs} (id, task, queue, payload, priority, status, run_at, created_at, max_attempts,
             retry_backoff, timeout, trace_context, concurrency, concurrency_key, rate_limit,
             rate_period, rate_key) FROM STDIN;

-- name: notify
-- Workers of these queues are woken when the transaction commits.
SELECT pg_notify(%(channel)s, q) FROM unnest(%(queues)s::text[]) AS q;

-- name: live_keys
SELECT unique_key, id FROM {jobs}
WHERE unique_key = ANY(%(keys)s) AND status IN ('waiting', 'queued', 'running');

-- name: claim
-- The first `limit` claimable jobs in order (SKIP LOCKED: claimers pass over rows another
-- claim holds instead of waiting for it; a job whose queue is paused or one of whose keys
-- is full, as this statement sees them, is passed over too, at most 1,000 of them). The
-- due jobs are read in order as the statement without limits would (the inner select:
-- the same plan, an ordered index scan read only as far as needed), then filtered: with
-- the filters inside, a generic plan sorted every queued job on each claim. Jobs without
-- limits are claimed; those with limits come back unclaimed, 'queued', for claim_limited.
-- A row another claim took since this statement began is locked, found 'running' and
-- passed over; its lock lasts until this transaction ends, and that worker's completion
-- waits for it: the claim's transaction is sent whole and commits at once, never waiting
-- for its worker (PostgresStore._complete_and_claim).
WITH candidates AS (
    SELECT seq, priority, run_at, concurrency, concurrency_key, rate_limit FROM (
        SELECT seq, priority, run_at, queue, concurrency, concurrency_key, rate_limit,
            rate_key
        FROM {jobs} WHERE status = 'queued' AND run_at <= %(now)s
        ORDER BY priority DESC, run_at, seq LIMIT %(limit)s + 1000 FOR UPDATE SKIP LOCKED
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))
    LIMIT %(limit)s
), claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE seq IN (SELECT seq FROM candidates WHERE concurrency IS NULL AND rate_limit IS NULL)
    RETURNING {columns}
)
SELECT * FROM claimed
UNION ALL
SELECT {columns} FROM {jobs}
WHERE seq IN (SELECT seq FROM candidates WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL);

-- name: claim_queues
WITH candidates AS (
    SELECT seq, priority, run_at, concurrency, concurrency_key, rate_limit FROM (
        SELECT seq, priority, run_at, queue, concurrency, concurrency_key, rate_limit,
            rate_key
        FROM {jobs} WHERE status = 'queued' AND run_at <= %(now)s
            AND queue = ANY(%(queues)s)
        ORDER BY priority DESC, run_at, seq LIMIT %(limit)s + 1000 FOR UPDATE SKIP LOCKED
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))
    LIMIT %(limit)s
), claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE seq IN (SELECT seq FROM candidates WHERE concurrency IS NULL AND rate_limit IS NULL)
    RETURNING {columns}
)
SELECT * FROM claimed
UNION ALL
SELECT {columns} FROM {jobs}
WHERE seq IN (SELECT seq FROM candidates WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL);

-- name: claim_slots
-- As claim, for a store whose last claim met jobs with limits: jobs with a concurrency
-- limit are claimed here too, as many per key as the slots the statement takes in
-- bb_slots (ON CONFLICT DO UPDATE reads and locks the latest row: racing claims queue on
-- it and never exceed the cap; every ending gives the slot back). Unclaimed candidates
-- come back 'queued': rate-limited ones for claim_limited, and those refused a slot.
WITH candidates AS (
    SELECT seq, priority, run_at, concurrency, concurrency_key, rate_limit FROM (
        SELECT seq, priority, run_at, queue, concurrency, concurrency_key, rate_limit,
            rate_key
        FROM {jobs} WHERE status = 'queued' AND run_at <= %(now)s
        ORDER BY priority DESC, run_at, seq LIMIT %(limit)s + 1000 FOR UPDATE SKIP LOCKED
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))
    LIMIT %(limit)s
), asked AS (
    SELECT concurrency_key AS key, min(concurrency) AS cap, count(*) AS n FROM candidates
    WHERE concurrency IS NOT NULL AND rate_limit IS NULL GROUP BY concurrency_key
), granted AS (
    INSERT INTO {slots} AS s (key, used, cap, wanted, granted)
    SELECT key, LEAST(n, cap), cap, n, LEAST(n, cap) FROM asked ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        used = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)),
        granted = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)) - s.used,
        cap = EXCLUDED.cap, wanted = EXCLUDED.wanted
    RETURNING s.key, s.granted
), chosen AS (
    SELECT seq FROM candidates WHERE concurrency IS NULL AND rate_limit IS NULL
    UNION ALL
    SELECT c.seq FROM (
        SELECT seq, concurrency_key, row_number() OVER (PARTITION BY concurrency_key
            ORDER BY priority DESC, run_at, seq) AS r
        FROM candidates WHERE concurrency IS NOT NULL AND rate_limit IS NULL
    ) AS c JOIN granted AS g ON g.key = c.concurrency_key WHERE c.r <= g.granted
), claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE seq IN (SELECT seq FROM chosen)
    RETURNING {columns}
)
SELECT * FROM claimed
UNION ALL
SELECT {columns} FROM {jobs}
WHERE seq IN (SELECT seq FROM candidates) AND seq NOT IN (SELECT seq FROM chosen);

-- name: claim_slots_queues
WITH candidates AS (
    SELECT seq, priority, run_at, concurrency, concurrency_key, rate_limit FROM (
        SELECT seq, priority, run_at, queue, concurrency, concurrency_key, rate_limit,
            rate_key
        FROM {jobs} WHERE status = 'queued' AND run_at <= %(now)s
            AND queue = ANY(%(queues)s)
        ORDER BY priority DESC, run_at, seq LIMIT %(limit)s + 1000 FOR UPDATE SKIP LOCKED
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))
    LIMIT %(limit)s
), asked AS (
    SELECT concurrency_key AS key, min(concurrency) AS cap, count(*) AS n FROM candidates
    WHERE concurrency IS NOT NULL AND rate_limit IS NULL GROUP BY concurrency_key
), granted AS (
    INSERT INTO {slots} AS s (key, used, cap, wanted, granted)
    SELECT key, LEAST(n, cap), cap, n, LEAST(n, cap) FROM asked ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        used = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)),
        granted = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)) - s.used,
        cap = EXCLUDED.cap, wanted = EXCLUDED.wanted
    RETURNING s.key, s.granted
), chosen AS (
    SELECT seq FROM candidates WHERE concurrency IS NULL AND rate_limit IS NULL
    UNION ALL
    SELECT c.seq FROM (
        SELECT seq, concurrency_key, row_number() OVER (PARTITION BY concurrency_key
            ORDER BY priority DESC, run_at, seq) AS r
        FROM candidates WHERE concurrency IS NOT NULL AND rate_limit IS NULL
    ) AS c JOIN granted AS g ON g.key = c.concurrency_key WHERE c.r <= g.granted
), claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE seq IN (SELECT seq FROM chosen)
    RETURNING {columns}
)
SELECT * FROM claimed
UNION ALL
SELECT {columns} FROM {jobs}
WHERE seq IN (SELECT seq FROM candidates) AND seq NOT IN (SELECT seq FROM chosen);

-- name: claim_job
-- eager mode: the job runs whatever its limits, but holds its slot like any other
WITH claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE id = %(id)s AND status = 'queued' AND run_at <= %(now)s
    RETURNING {columns}
), taken AS (
    INSERT INTO {slots} AS s (key, used, cap, wanted, granted)
    SELECT concurrency_key, 1, concurrency, 1, 1 FROM claimed WHERE concurrency IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET used = s.used + 1
)
SELECT * FROM claimed;

-- name: heartbeat
-- The leases still held (as of this statement's snapshot) are renewed, but only those
-- whose row can be locked now: a row another transaction holds (its completion, a
-- cancel, a claim that met it) is skipped, never waited for, so a heartbeat cannot
-- deadlock with a completion nor queue behind one. A skipped lease is reported held, not
-- lost: its job is being changed right now; the next heartbeat renews or reports it.
-- Each job is read by its id, as in complete_many (as a join, statistics taken while no
-- job ran made it read the whole lease index, twice, for each heartbeat).
WITH held AS (
    SELECT j.id, j.token, j.cancel_requested, j.cancel_grace
    FROM unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS l(id, token)
    CROSS JOIN LATERAL (
        SELECT id, token, status, cancel_requested, cancel_grace FROM {jobs}
        WHERE id = l.id OFFSET 0
    ) AS j
    WHERE j.token = l.token AND j.status = 'running'
), locked AS (
    SELECT j.id FROM held AS h
    CROSS JOIN LATERAL (
        SELECT id, token, status FROM {jobs} WHERE id = h.id OFFSET 0
    ) AS j
    WHERE j.token = h.token AND j.status = 'running'
    FOR UPDATE OF j SKIP LOCKED
), renewed AS (
    UPDATE {jobs} AS j SET lease_until = %(until)s FROM locked WHERE j.id = locked.id
)
SELECT id, cancel_requested, cancel_grace FROM held;

-- name: complete_many
-- Rows locked before any is changed, one by one in the order of the arrays (the caller
-- sorts them by id): two statements that lock jobs this way wait for each other in one
-- order, never deadlock. Each job is looked up by its id (the subquery, which OFFSET 0
-- keeps whole, can only be read by id, once per array element). As a join the planner may
-- turn around, statistics taken while no job ran made it read every entry of the lease
-- index, dead ones of jobs ended since included, for each completion: a drain beside
-- 100,000 queued jobs ran 5x slower (bench.scale).
WITH locked AS (
    SELECT j.id, d.result
    FROM unnest(%(ids)s::text[], %(tokens)s::bigint[], %(results)s::text[])
        AS d(id, token, result)
    CROSS JOIN LATERAL (
        SELECT id, token, status FROM {jobs} WHERE id = d.id OFFSET 0
    ) AS j
    WHERE j.token = d.token AND j.status = 'running'
    FOR UPDATE OF j
), changed AS (
    UPDATE {jobs} AS j SET status = 'succeeded', result = l.result, finished_at = %(now)s,
        lease_until = NULL
    FROM locked AS l WHERE j.id = l.id
    RETURNING j.id, CASE WHEN j.concurrency IS NOT NULL THEN j.concurrency_key END AS slot
), freed AS (
    UPDATE {slots} AS s SET used = s.used - f.n
    FROM (SELECT slot, count(*) AS n FROM changed WHERE slot IS NOT NULL GROUP BY slot)
        AS f
    WHERE s.key = f.slot
)
SELECT id FROM changed;

-- name: end_attempts
-- Applies a batch of policy.Ending, one per ordinal, as its docstring says; returns the
-- ordinals applied with the status each job was left in. Every SET expression reads the row as it was, so those that depend on
-- the new status repeat how it is chosen. The failure entry comes as JSON text built in
-- Python (a float8 turned into jsonb here would lose digits); the attempt number is added.
-- An ending from the attempt's own worker waits for a row locked by another transaction,
-- and PostgreSQL checks its conditions again on the row as that one left it. An ending of
-- a lapsed lease skips a locked row instead (its worker is completing it or renewing the
-- lease, and wins; a later pass takes it if the lease is still lapsed), so a rescue of
-- many rows never waits on a worker's heartbeat of many, and the two cannot deadlock.
WITH d AS (
    SELECT * FROM unnest(
        %(id)s::text[], %(token)s::bigint[], %(status)s::text[], %(if_cancelled)s::text[],
        %(at)s::float8[], %(run_at)s::float8[], %(error)s::text[], %(failure)s::text[],
        %(given_back)s::integer[], %(lapsed_before)s::float8[]
    ) WITH ORDINALITY AS d(id, token, status, if_cancelled, at, run_at, error, failure,
                           given_back, lapsed_before, ord)
), lapsing AS (
    SELECT j.seq FROM {jobs} AS j JOIN d ON j.id = d.id
    WHERE d.lapsed_before IS NOT NULL AND j.token = d.token AND j.status = 'running'
        AND j.lease_until < d.lapsed_before
    FOR UPDATE OF j SKIP LOCKED
), changed AS (
    UPDATE {jobs} AS j SET
        status = CASE WHEN j.cancel_requested THEN d.if_cancelled ELSE d.status END,
        lease_until = NULL,
        attempts = j.attempts - d.given_back,
        -- an attempt given back leaves no trace (see policy.Ending)
        started_at = CASE WHEN d.given_back = 1 THEN NULL ELSE j.started_at END,
        worker_id = CASE WHEN d.given_back = 1 THEN NULL ELSE j.worker_id END,
        progress = CASE WHEN d.given_back = 1 THEN NULL ELSE j.progress END,
        error = COALESCE(d.error, j.error),
        failures = CASE WHEN d.failure IS NULL THEN j.failures ELSE j.failures
            || jsonb_build_array(d.failure::jsonb || jsonb_build_object('attempt', j.attempts))
            END,
        run_at = CASE
            WHEN (CASE WHEN j.cancel_requested THEN d.if_cancelled ELSE d.status END) = 'queued'
            THEN COALESCE(d.run_at, j.run_at) ELSE j.run_at END,
        finished_at = CASE
            WHEN (CASE WHEN j.cancel_requested THEN d.if_cancelled ELSE d.status END) = 'queued'
            THEN j.finished_at ELSE d.at END
    FROM d
    WHERE j.id = d.id AND j.token = d.token AND j.status = 'running'
        AND (d.lapsed_before IS NULL
             OR (j.lease_until < d.lapsed_before AND j.seq IN (SELECT seq FROM lapsing)))
    RETURNING d.ord, j.queue, j.status,
        CASE WHEN j.concurrency IS NOT NULL THEN j.concurrency_key END AS slot
), freed AS (
    UPDATE {slots} AS s SET used = s.used - f.n
    FROM (SELECT slot, count(*) AS n FROM changed WHERE slot IS NOT NULL GROUP BY slot)
        AS f
    WHERE s.key = f.slot
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.ord, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: lapsed
-- Read only: policy decides what becomes of each, and end_attempts applies it.
SELECT {columns} FROM {jobs} WHERE status = 'running' AND lease_until < %(now)s
ORDER BY lease_until LIMIT %(limit)s;

-- name: set_progress
UPDATE {jobs} SET progress = %(progress)s
WHERE id = %(id)s AND token = %(token)s AND status = 'running';

-- name: next_due
-- Whether a job can be claimed now; else when one may be: the next run_at of an unpaused
-- queue, or the next edge of a full rate window a queued job waits on. A job waiting for
-- a concurrency slot adds no time: the wait polls. Looks as far as a claim (1,000 jobs
-- passed over), so a claim that would take nothing never wakes a worker up.
SELECT EXISTS (SELECT 1 FROM (
        SELECT queue, concurrency, concurrency_key, rate_limit, rate_key FROM {jobs}
        WHERE status = 'queued' AND run_at <= %(now)s
        ORDER BY priority DESC, run_at, seq LIMIT 1001
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))),
    (SELECT min(run_at) FROM {jobs} WHERE status = 'queued' AND run_at > %(now)s
        AND queue NOT IN (SELECT queue FROM {paused})),
    (SELECT min(until) FROM {rate_starts} WHERE until > %(now)s AND key IN
        (SELECT rate_key FROM {jobs} WHERE status = 'queued' AND rate_key IS NOT NULL));

-- name: next_due_queues
SELECT EXISTS (SELECT 1 FROM (
        SELECT queue, concurrency, concurrency_key, rate_limit, rate_key FROM {jobs}
        WHERE status = 'queued' AND run_at <= %(now)s
            AND queue = ANY(%(queues)s)
        ORDER BY priority DESC, run_at, seq LIMIT 1001
    ) AS j
    WHERE queue NOT IN (SELECT queue FROM {paused})
        AND (concurrency IS NULL OR concurrency_key NOT IN (
            SELECT key FROM {slots} WHERE used >= cap))
        AND (rate_limit IS NULL OR rate_key NOT IN (
            SELECT key FROM {rate_starts} WHERE until > %(now)s
            GROUP BY key HAVING count(*) >= min(rate_limit)))),
    (SELECT min(run_at) FROM {jobs} WHERE status = 'queued' AND run_at > %(now)s
        AND queue = ANY(%(queues)s) AND queue NOT IN (SELECT queue FROM {paused})),
    (SELECT min(until) FROM {rate_starts} WHERE until > %(now)s AND key IN
        (SELECT rate_key FROM {jobs} WHERE status = 'queued' AND rate_key IS NOT NULL
            AND queue = ANY(%(queues)s)));

-- name: counts
SELECT queue, CASE WHEN status = 'queued' AND run_at > %(now)s THEN 'scheduled'
                   ELSE status END AS s, count(*)
FROM {jobs} GROUP BY queue, s;

-- name: count_ahead
-- Store.count_ahead: due jobs of the job's queue that come first in claim order (priority
-- DESC, run_at, seq), up to a limit, walking the claim index from its head.
SELECT count(*) FROM (
    SELECT 1 FROM {jobs} AS o,
        (SELECT queue, priority, run_at, seq FROM {jobs}
         WHERE id = %(id)s AND status = 'queued') AS j
    WHERE o.status = 'queued' AND o.queue = j.queue AND o.run_at <= %(now)s
        AND (o.priority > j.priority
             OR (o.priority = j.priority
                 AND (o.run_at < j.run_at OR (o.run_at = j.run_at AND o.seq < j.seq))))
    LIMIT %(limit)s
) AS ahead;

-- name: cancel
-- One statement: a queued or waiting job is cancelled, a running one is asked to stop (by
-- force when a grace is given: see Store.cancel).
UPDATE {jobs} SET
    status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
    finished_at = CASE WHEN status = 'running' THEN finished_at ELSE %(now)s END,
    cancel_requested = cancel_requested OR status = 'running',
    cancel_grace = CASE WHEN status = 'running' THEN COALESCE(%(grace)s::float8, cancel_grace)
        ELSE cancel_grace END
WHERE id = %(id)s AND status IN ('waiting', 'queued', 'running')
RETURNING status;

-- name: retry
-- The last failure is marked with the time of the retry, given as JSON text (a float8
-- turned into jsonb here would lose digits).
WITH changed AS (
    UPDATE {jobs} SET status = 'queued', attempts = 0, run_at = %(now)s,
        finished_at = NULL, cancel_requested = false, cancel_grace = NULL,
        failures = CASE WHEN jsonb_array_length(failures) > 0
            THEN jsonb_set(failures, ARRAY['-1', 'retried_at'], %(mark)s::jsonb) ELSE failures END
    WHERE id = %(id)s AND status IN ('failed', 'cancelled') AND waiting_for = 0
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: record_worker
INSERT INTO {workers} (id, host, pid, started_at, heartbeat_at, queues, jobs, tasks)
VALUES (%(id)s, %(host)s, %(pid)s, %(started_at)s, %(heartbeat_at)s, %(queues)s, %(jobs)s,
        %(tasks)s)
ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
    queues = excluded.queues, jobs = excluded.jobs, tasks = excluded.tasks;

-- name: remove_worker
DELETE FROM {workers} WHERE id = %(id)s;

-- name: forget_workers
DELETE FROM {workers} WHERE heartbeat_at < %(since)s;

-- name: list_workers
SELECT id, host, pid, started_at, heartbeat_at, queues, jobs, tasks FROM {workers}
ORDER BY started_at;

-- name: stats
-- The monitoring gauges in one snapshot, with bounded work however many jobs wait (see
-- stores/postgres_stats.py): the queues with queued jobs, found by skipping through the
-- partial index on (queue, run_at) one queue at a time; per queue its queued jobs and
-- the scheduled ones among them, each counted up to %(cap)s, and the earliest run_at
-- (the first entry of that index); then running jobs and live workers.
WITH RECURSIVE queues AS (
    (SELECT queue FROM {jobs} WHERE status = 'queued' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM {jobs} AS j
            WHERE j.status = 'queued' AND j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM queues AS q WHERE q.queue IS NOT NULL
)
SELECT 'queued' AS kind, q.queue,
       (SELECT count(*) FROM (SELECT FROM {jobs} AS j
                              WHERE j.status = 'queued' AND j.queue = q.queue
                              LIMIT %(cap)s) AS a),
       (SELECT count(*) FROM (SELECT FROM {jobs} AS j
                              WHERE j.status = 'queued' AND j.queue = q.queue
                                AND j.run_at > %(now)s LIMIT %(cap)s) AS b),
       (SELECT min(j.run_at) FROM {jobs} AS j WHERE j.status = 'queued' AND j.queue = q.queue)
FROM queues AS q WHERE q.queue IS NOT NULL
UNION ALL
SELECT 'running', queue, count(*), 0, NULL FROM {jobs} WHERE status = 'running' GROUP BY queue
UNION ALL
SELECT 'waiting', queue, count(*), 0, NULL FROM {jobs} WHERE status = 'waiting' GROUP BY queue
UNION ALL
SELECT 'workers', '', count(*), 0, NULL FROM {workers} WHERE heartbeat_at >= %(alive_since)s;

-- name: estimate_queued
-- The planner's estimate (statistics kept by autovacuum) of a queue's queued jobs.
EXPLAIN (FORMAT JSON) SELECT FROM {jobs} WHERE status = 'queued' AND queue = %(queue)s;

-- name: estimate_scheduled
EXPLAIN (FORMAT JSON) SELECT FROM {jobs}
WHERE status = 'queued' AND queue = %(queue)s AND run_at > %(now)s;

-- Dependencies (see stores/deps.py and postgres_deps.py). Each runs in the transaction of
-- the change it follows, as a statement of its own: its snapshot then sees what other
-- transactions committed while that change waited for a row lock (an enqueue adding a
-- dependent, say), so no dependent is missed.

-- name: dep_statuses
-- FOR SHARE: a dependency cannot end while the dependents being enqueued count it.
SELECT id, status FROM {jobs} WHERE id = ANY(%(ids)s) ORDER BY id FOR SHARE;

-- name: add_deps
INSERT INTO {deps} (dep_id, job_id)
SELECT * FROM unnest(%(dep_ids)s::text[], %(job_ids)s::text[])
ON CONFLICT DO NOTHING;

-- name: release
-- The jobs this transaction just completed (succeeded now, with these tokens): each
-- dependent has that many dependencies fewer; a waiting one left with none is queued.
-- A dependent updated meanwhile by another completion is re-read by the UPDATE after
-- that one commits, so concurrent completions each count. Each job is read by its id, as
-- in complete_many: as a join, statistics taken while no job had succeeded made the
-- planner read every succeeded job's index entry for each completion (a drain beside
-- 100,000 queued jobs slowed as it went, 5x on average; bench.scale).
WITH done AS (
    SELECT j.id FROM unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS d(id, token)
    CROSS JOIN LATERAL (
        SELECT id, token, status, finished_at FROM {jobs} WHERE id = d.id OFFSET 0
    ) AS j
    WHERE j.token = d.token AND j.status = 'succeeded' AND j.finished_at = %(now)s
), counted AS (
    SELECT e.job_id, count(*) AS n FROM {deps} AS e JOIN done ON e.dep_id = done.id
    GROUP BY e.job_id
), changed AS (
    UPDATE {jobs} AS j SET waiting_for = j.waiting_for - c.n,
        status = CASE WHEN j.status = 'waiting' AND j.waiting_for - c.n <= 0
                 THEN 'queued' ELSE j.status END
    FROM counted AS c WHERE j.id = c.job_id
    RETURNING j.queue, j.status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT count(*) FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: doom
-- One level of cancelling: the waiting dependents of these jobs, each with the reason of
-- one dependency it lost; returns them, the next level's causes.
WITH cause AS (
    SELECT * FROM unnest(%(ids)s::text[], %(reasons)s::text[]) AS c(id, reason)
), hit AS (
    SELECT DISTINCT ON (e.job_id) e.job_id, cause.reason
    FROM {deps} AS e JOIN cause ON e.dep_id = cause.id ORDER BY e.job_id, cause.id
)
UPDATE {jobs} AS j SET status = 'cancelled', finished_at = %(now)s, error = hit.reason
FROM hit WHERE j.id = hit.job_id AND j.status = 'waiting'
RETURNING j.id;

-- name: revive
-- One level of bringing back, after a manual retry: dependents cancelled for a dependency
-- wait again, unless another of their dependencies failed or was cancelled, or another live
-- job took their unique_key meanwhile (they stay cancelled).
UPDATE {jobs} AS j SET status = 'waiting', finished_at = NULL, error = NULL
FROM (SELECT DISTINCT job_id FROM {deps} WHERE dep_id = ANY(%(ids)s)) AS d
WHERE j.id = d.job_id AND j.status = 'cancelled' AND j.error LIKE %(pattern)s
    AND NOT EXISTS (
        SELECT 1 FROM {deps} AS e JOIN {jobs} AS x ON x.id = e.dep_id
        WHERE e.job_id = j.id AND x.status IN ('failed', 'cancelled'))
    AND (j.unique_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM {jobs} AS u WHERE u.unique_key = j.unique_key AND u.id <> j.id
            AND u.status IN ('waiting', 'queued', 'running')))
RETURNING j.id;

-- name: dependent_ids
SELECT e.job_id FROM {deps} AS e LEFT JOIN {jobs} AS j ON j.id = e.job_id
WHERE e.dep_id = %(id)s ORDER BY j.seq;

-- Flow control.

-- name: lock_keys
-- Serialises claim_limited per rate key: the next statement of the
-- transaction sees every other such claim committed. Keys are locked in one order, so
-- two claims cannot deadlock.
SELECT count(pg_advisory_xact_lock(k)) FROM (
    SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest(%(keys)s::text[]) AS u(key)
    ORDER BY 1
) AS keys;

-- name: claim_limited
-- Claims jobs with limits a claim returned unclaimed (seqs), in claim order, each only
-- while its rate window has room (counting the starts in it and the jobs before it in
-- this claim) and bb_slots grants it a concurrency slot; records the starts in their
-- windows.
WITH candidates AS (
    SELECT seq, priority, run_at, concurrency, concurrency_key, rate_limit, rate_period,
        rate_key
    FROM {jobs}
    WHERE seq = ANY(%(seqs)s::bigint[]) AND status = 'queued' AND run_at <= %(now)s
        AND queue NOT IN (SELECT queue FROM {paused})
    FOR UPDATE SKIP LOCKED
), passing AS (
    SELECT * FROM (
        SELECT c.*, CASE WHEN c.rate_limit IS NULL THEN 0 ELSE
            c.rate_limit - (SELECT count(*) FROM {rate_starts} AS s
                WHERE s.key = c.rate_key AND s.until > %(now)s)
            - row_number() OVER (PARTITION BY c.rate_key
                                 ORDER BY c.priority DESC, c.run_at, c.seq) END AS starts_left
        FROM candidates AS c
    ) AS r WHERE starts_left >= 0
), asked AS (
    SELECT concurrency_key AS key, min(concurrency) AS cap, count(*) AS n FROM passing
    WHERE concurrency IS NOT NULL GROUP BY concurrency_key
), granted AS (
    INSERT INTO {slots} AS s (key, used, cap, wanted, granted)
    SELECT key, LEAST(n, cap), cap, n, LEAST(n, cap) FROM asked ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        used = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)),
        granted = LEAST(s.used + EXCLUDED.wanted, GREATEST(s.used, EXCLUDED.cap)) - s.used,
        cap = EXCLUDED.cap, wanted = EXCLUDED.wanted
    RETURNING s.key, s.granted
), chosen AS (
    SELECT seq FROM passing WHERE concurrency IS NULL
    UNION ALL
    SELECT c.seq FROM (
        SELECT seq, concurrency_key, row_number() OVER (PARTITION BY concurrency_key
            ORDER BY priority DESC, run_at, seq) AS r
        FROM passing WHERE concurrency IS NOT NULL
    ) AS c JOIN granted AS g ON g.key = c.concurrency_key WHERE c.r <= g.granted
), claimed AS (
    UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
        worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
    WHERE seq IN (SELECT seq FROM chosen)
    RETURNING {columns}
), started AS (
    INSERT INTO {rate_starts} (key, until, job_id, rate_limit)
    SELECT rate_key, %(now)s + rate_period, id, rate_limit FROM claimed
    WHERE rate_limit IS NOT NULL
), pruned AS (
    -- starts a period past their window: a claim whose `now` is a little behind (it
    -- waited for a lock) still counts the starts it needs
    DELETE FROM {rate_starts} AS s
    USING (SELECT DISTINCT rate_key, rate_period FROM candidates
           WHERE rate_limit IS NOT NULL) AS k
    WHERE s.key = k.rate_key AND s.until <= %(now)s - k.rate_period
)
SELECT * FROM claimed;

-- name: pause
INSERT INTO {paused} (queue, paused_at) VALUES (%(queue)s, %(now)s)
ON CONFLICT (queue) DO NOTHING;

-- name: resume
-- wakes the workers waiting on that queue (at commit)
WITH gone AS (DELETE FROM {paused} WHERE queue = %(queue)s RETURNING queue)
SELECT pg_notify(%(channel)s, %(queue)s);

-- name: paused_queues
SELECT queue FROM {paused};

-- name: concurrency_holders
SELECT id FROM {jobs} WHERE status = 'running' AND concurrency_key = %(key)s
ORDER BY started_at, seq;

-- name: rate_window_until
SELECT until FROM {rate_starts} WHERE key = %(key)s AND until > %(now)s
ORDER BY until DESC LIMIT 1 OFFSET %(offset)s;
