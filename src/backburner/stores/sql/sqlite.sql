-- backburner SQLite schema, version 1 (PRAGMA user_version = 1).
-- status holds 'queued' for every pending job; a queued job whose run_at is in the future
-- is reported as 'scheduled'. seq (the rowid) gives enqueue order for FIFO.
CREATE TABLE bb_jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    task             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    priority         INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    run_at           REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    max_attempts     INTEGER NOT NULL,
    retry_backoff    REAL    NOT NULL,
    timeout          REAL,
    unique_key       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    token            INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT,
    lease_until      REAL,
    started_at       REAL,
    finished_at      REAL,
    result           TEXT,
    error            TEXT,
    failures         TEXT    NOT NULL DEFAULT '[]',
    progress         TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    trace_context    TEXT,
    -- set by a forced cancel: seconds the job gets once told
    cancel_grace     REAL,
    schedule         TEXT,
    scheduled_for    REAL,
    depends_on       TEXT    NOT NULL DEFAULT '[]',
    takes_results    INTEGER NOT NULL DEFAULT 0,
    -- how many of depends_on have not succeeded yet: a 'waiting' job is queued at 0
    waiting_for      INTEGER NOT NULL DEFAULT 0,
    concurrency      INTEGER,
    concurrency_key  TEXT,
    rate_limit       INTEGER,
    rate_period      REAL,
    rate_key         TEXT
);

-- the claim: due jobs, highest priority first, then earliest run_at, then enqueue order.
-- One index for claims on some queues and on every queue (one walk per queue, merged):
-- each index is one more b-tree written by every durable enqueue
CREATE INDEX bb_jobs_claim_queue ON bb_jobs (queue, priority DESC, run_at, seq)
    WHERE status = 'queued';
-- at most one live job per unique_key (a waiting job holds it: it is queued unchecked)
CREATE UNIQUE INDEX bb_jobs_unique ON bb_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('waiting', 'queued', 'running');
CREATE INDEX bb_jobs_lease ON bb_jobs (lease_until) WHERE status = 'running';
-- jobs held by their dependencies, per queue (the gauges count them)
CREATE INDEX bb_jobs_waiting ON bb_jobs (queue) WHERE status = 'waiting';
CREATE INDEX bb_jobs_finished ON bb_jobs (finished_at)
    WHERE status IN ('succeeded', 'failed', 'cancelled');
-- the dashboard lists finished jobs of a status newest first: only rows that end so are
-- in these (an enqueue writes none)
CREATE INDEX bb_jobs_succeeded ON bb_jobs (seq) WHERE status = 'succeeded';
CREATE INDEX bb_jobs_failed ON bb_jobs (seq) WHERE status = 'failed';
CREATE INDEX bb_jobs_cancelled ON bb_jobs (seq) WHERE status = 'cancelled';

-- flow control: the running jobs holding each concurrency key's slots, and the queued
-- jobs of each rate key (only jobs with a limit are in these indexes)
CREATE INDEX bb_jobs_holders ON bb_jobs (concurrency_key)
    WHERE status = 'running' AND concurrency_key IS NOT NULL;
CREATE INDEX bb_jobs_rate_waiting ON bb_jobs (rate_key)
    WHERE status = 'queued' AND rate_key IS NOT NULL;

-- the sliding window of each rate key: one row per start, until it leaves the window
CREATE TABLE bb_rate_starts (
    key    TEXT NOT NULL,
    until  REAL NOT NULL,
    job_id TEXT NOT NULL
);
CREATE INDEX bb_rate_starts_key ON bb_rate_starts (key, until);
CREATE INDEX bb_rate_starts_until ON bb_rate_starts (until);

-- paused queues: workers claim nothing from them until resumed
CREATE TABLE bb_paused (
    queue     TEXT PRIMARY KEY,
    paused_at REAL NOT NULL
);

CREATE TABLE bb_workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    queues       TEXT NOT NULL,
    jobs         TEXT NOT NULL,
    tasks        TEXT NOT NULL DEFAULT '[]'  -- the task names its app registers
);

-- periodic jobs: one row per tick of a schedule; the primary key is what makes a tick's
-- job exist once however many workers race for it (see Store.enqueue_tick)
CREATE TABLE bb_ticks (
    schedule    TEXT    NOT NULL,
    at          REAL    NOT NULL,
    definition  TEXT    NOT NULL,
    generation  REAL    NOT NULL,
    job_id      TEXT,
    enqueued    INTEGER NOT NULL,
    missed      INTEGER NOT NULL,
    recorded_at REAL    NOT NULL,
    PRIMARY KEY (schedule, at)
);

-- job logs: what each attempt printed or logged, numbered per job (seq 1, 2, ...);
-- they go with their job whatever deletes it (purge, prune). (The trigger's body stays
-- on one line: sqlite_conn runs this file statement by statement, split at ";\n".)
CREATE TABLE bb_logs (
    job_id  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at      REAL    NOT NULL,
    stream  TEXT    NOT NULL,
    level   TEXT,
    message TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER bb_jobs_logs_go_with_job AFTER DELETE ON bb_jobs
BEGIN DELETE FROM bb_logs WHERE job_id = OLD.id; END;

-- dependencies: job_id waits for dep_id. A job's own list, in order, is its depends_on;
-- this table finds the dependents of a job when it ends. A deleted job takes its edges.
CREATE TABLE bb_deps (
    dep_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (dep_id, job_id)
) WITHOUT ROWID;
CREATE INDEX bb_deps_job ON bb_deps (job_id);
-- (one statement in its body, on the line of BEGIN: the loader splits at ";" + newline)
CREATE TRIGGER bb_jobs_deleted AFTER DELETE ON bb_jobs BEGIN
    DELETE FROM bb_deps WHERE dep_id = old.id OR job_id = old.id; END;

-- outcomes of attempts per minute and queue, summed from every worker (the dashboard's
-- charts); pruned after 8 days
CREATE TABLE bb_history (
    minute  REAL    NOT NULL,
    queue   TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, queue, outcome)
) WITHOUT ROWID;

-- what operators did (dashboard and CLI actions), newest found by seq
CREATE TABLE bb_audit (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    source TEXT NOT NULL
);

PRAGMA user_version = 1;
