-- The PostgreSQL store's statements, for the schema the postgres_NNNN_*.sql files build.
-- Each starts with "-- name: NAME". {jobs} and {workers} become the schema-qualified
-- tables and {columns} the JobRecord columns, in the order postgres.py reads them.
--
-- Statements that make a job pending end with the same tail: it calls pg_notify once per
-- queue that got a pending job (delivered at commit, so workers never see a job before
-- it exists) and returns (id, status) per changed row.
-- Status filters are literals, never parameters, so the planner matches partial indexes.

-- name: insert
-- One statement for a whole batch; ORDER BY ord hands out seq in list order. A record
-- whose unique_key a live job holds is skipped here, and resolved by live_keys.
WITH input AS (
    SELECT * FROM unnest(
        %(id)s::text[], %(task)s::text[], %(queue)s::text[], %(payload)s::text[],
        %(priority)s::bigint[], %(run_at)s::float8[], %(created_at)s::float8[],
        %(max_attempts)s::integer[], %(retry_backoff)s::float8[], %(timeout)s::float8[],
        %(unique_key)s::text[]
    ) WITH ORDINALITY AS r(id, task, queue, payload, priority, run_at, created_at,
                           max_attempts, retry_backoff, timeout, unique_key, ord)
), changed AS (
    INSERT INTO {jobs} (id, task, queue, payload, priority, run_at, created_at,
                        max_attempts, retry_backoff, timeout, unique_key, status)
    SELECT id, task, queue, payload, priority, run_at, created_at,
           max_attempts, retry_backoff, timeout, unique_key, 'queued'
    FROM input ORDER BY ord
    ON CONFLICT (unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: insert_one
-- The usual case, one job (a delay()): as insert, but cheaper to plan and to run.
INSERT INTO {jobs} (id, task, queue, payload, priority, run_at, created_at,
                    max_attempts, retry_backoff, timeout, unique_key, status)
VALUES (%(id)s, %(task)s, %(queue)s, %(payload)s, %(priority)s, %(run_at)s,
        %(created_at)s, %(max_attempts)s, %(retry_backoff)s, %(timeout)s, %(unique_key)s,
        'queued')
ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
RETURNING id, pg_notify(%(channel)s, queue);

-- name: live_keys
SELECT unique_key, id FROM {jobs}
WHERE unique_key = ANY(%(keys)s) AND status IN ('queued', 'running');

-- name: claim
-- SKIP LOCKED: claimers pass over rows another claim holds instead of waiting for it.
UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
    worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
WHERE seq IN (
    SELECT seq FROM {jobs} WHERE status = 'queued' AND run_at <= %(now)s
    ORDER BY priority DESC, run_at, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING {columns}, seq;

-- name: claim_queues
UPDATE {jobs} SET status = 'running', attempts = attempts + 1, token = token + 1,
    worker_id = %(worker)s, lease_until = %(until)s, started_at = %(now)s
WHERE seq IN (
    SELECT seq FROM {jobs}
    WHERE status = 'queued' AND run_at <= %(now)s AND queue = ANY(%(queues)s)
    ORDER BY priority DESC, run_at, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING {columns}, seq;

-- name: heartbeat
UPDATE {jobs} AS j SET lease_until = %(until)s
FROM unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS l(id, token)
WHERE j.id = l.id AND j.token = l.token AND j.status = 'running'
RETURNING j.id, j.cancel_requested;

-- name: complete
UPDATE {jobs} SET status = 'succeeded', result = %(result)s, finished_at = %(now)s,
    lease_until = NULL
WHERE id = %(id)s AND token = %(token)s AND status = 'running';

-- name: complete_many
UPDATE {jobs} AS j SET status = 'succeeded', result = d.result, finished_at = %(now)s,
    lease_until = NULL
FROM unnest(%(ids)s::text[], %(tokens)s::bigint[], %(results)s::text[]) AS d(id, token, result)
WHERE j.id = d.id AND j.token = d.token AND j.status = 'running'
RETURNING j.id;

-- name: fail
-- The failure is appended to the history; then cancelled (cancel requested), pending
-- again at retry_at, or failed (retry_at NULL).
WITH changed AS (
    UPDATE {jobs} SET
        failures = failures || jsonb_build_array(jsonb_build_object(
            'attempt', attempts, 'at', %(now)s::float8, 'error', %(error)s::text)),
        error = %(error)s, lease_until = NULL,
        status = CASE WHEN cancel_requested THEN 'cancelled'
                      WHEN %(retry_at)s::float8 IS NULL THEN 'failed' ELSE 'queued' END,
        run_at = COALESCE(%(retry_at)s::float8, run_at),
        finished_at = CASE WHEN cancel_requested OR %(retry_at)s::float8 IS NULL
                           THEN %(now)s::float8 END
    WHERE id = %(id)s AND token = %(token)s AND status = 'running'
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: rescue
-- As fail, for every lapsed lease: retried at %(due)s while attempts remain. SKIP LOCKED:
-- a row locked right now is being completed or failed by its worker, whose outcome
-- wins; a later pass rescues it if its lease is still lapsed.
WITH changed AS (
    UPDATE {jobs} SET
        failures = failures || jsonb_build_array(jsonb_build_object(
            'attempt', attempts, 'at', %(now)s::float8, 'error', %(error)s::text)),
        error = %(error)s, lease_until = NULL,
        status = CASE WHEN cancel_requested THEN 'cancelled'
                      WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
        run_at = CASE WHEN attempts < max_attempts THEN %(due)s::float8 ELSE run_at END,
        finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts
                           THEN %(now)s::float8 END
    WHERE seq IN (
        SELECT seq FROM {jobs} WHERE status = 'running' AND lease_until < %(due)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: release
WITH changed AS (
    UPDATE {jobs} SET status = 'queued', attempts = attempts - 1, lease_until = NULL
    WHERE id = %(id)s AND token = %(token)s AND status = 'running'
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: set_progress
UPDATE {jobs} SET progress = %(progress)s
WHERE id = %(id)s AND token = %(token)s AND status = 'running';

-- name: next_due
SELECT min(run_at) FROM {jobs} WHERE status = 'queued';

-- name: next_due_queues
-- one index probe per queue instead of a scan of every pending job
SELECT min(m) FROM unnest(%(queues)s::text[]) AS q(name),
    LATERAL (SELECT min(run_at) AS m FROM {jobs}
             WHERE status = 'queued' AND queue = q.name) AS x;

-- name: counts
SELECT queue, CASE WHEN status = 'queued' AND run_at > %(now)s THEN 'scheduled'
                   ELSE status END AS s, count(*)
FROM {jobs} GROUP BY queue, s;

-- name: cancel
-- One statement: a queued job is cancelled, a running one is asked to stop.
UPDATE {jobs} SET
    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN %(now)s ELSE finished_at END,
    cancel_requested = cancel_requested OR status = 'running'
WHERE id = %(id)s AND status IN ('queued', 'running')
RETURNING status;

-- name: retry
WITH changed AS (
    UPDATE {jobs} SET status = 'queued', attempts = 0, run_at = %(now)s,
        finished_at = NULL, cancel_requested = false
    WHERE id = %(id)s AND status IN ('failed', 'cancelled')
    RETURNING id, queue, status
), woke AS (
    SELECT pg_notify(%(channel)s, queue)
    FROM (SELECT DISTINCT queue FROM changed WHERE status = 'queued') AS q
)
SELECT changed.id, changed.status FROM changed, (SELECT count(*) FROM woke) AS w;

-- name: record_worker
INSERT INTO {workers} (id, host, pid, started_at, heartbeat_at, queues, jobs)
VALUES (%(id)s, %(host)s, %(pid)s, %(started_at)s, %(heartbeat_at)s, %(queues)s, %(jobs)s)
ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
    queues = excluded.queues, jobs = excluded.jobs;

-- name: remove_worker
DELETE FROM {workers} WHERE id = %(id)s;

-- name: forget_workers
DELETE FROM {workers} WHERE heartbeat_at < %(since)s;

-- name: list_workers
SELECT id, host, pid, started_at, heartbeat_at, queues, jobs FROM {workers}
ORDER BY started_at;
