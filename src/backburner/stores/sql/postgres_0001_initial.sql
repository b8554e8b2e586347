-- backburner PostgreSQL schema, migration 0001: jobs, workers and the version table.
-- Run by postgres_schema.py inside one transaction, under an advisory lock, with
-- search_path set to the store's schema (so names here are unqualified).
--
-- status holds 'queued' for every pending job; a queued job whose run_at is in the future
-- is reported as 'scheduled'. Times are Unix timestamps (double precision seconds) taken
-- from the clients' clocks, as the Store protocol passes them. seq gives enqueue order.
-- payload and result are codec JSON kept as text: jsonb would reorder keys and change
-- the text users get back.

CREATE TABLE bb_schema_version (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bb_jobs (
    seq              bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text             NOT NULL UNIQUE,
    task             text             NOT NULL,
    queue            text             NOT NULL,
    payload          text             NOT NULL,
    priority         bigint           NOT NULL,
    status           text             NOT NULL CHECK (status IN
                         ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    run_at           double precision NOT NULL,
    created_at       double precision NOT NULL,
    max_attempts     integer          NOT NULL,
    retry_backoff    double precision NOT NULL,
    timeout          double precision,
    unique_key       text,
    attempts         integer          NOT NULL DEFAULT 0,
    token            bigint           NOT NULL DEFAULT 0,
    worker_id        text,
    lease_until      double precision,
    started_at       double precision,
    finished_at      double precision,
    result           text,
    error            text,
    failures         jsonb            NOT NULL DEFAULT '[]',
    progress         jsonb,
    cancel_requested boolean          NOT NULL DEFAULT false,
    concurrency      integer,
    concurrency_key  text,
    rate_limit       integer,
    rate_period      double precision,
    rate_key         text
);

-- The claim: due jobs, highest priority first, then earliest run_at, then enqueue order.
-- Partial indexes hold pending rows only, so they stay small however many jobs finished.
CREATE INDEX bb_jobs_claim ON bb_jobs (priority DESC, run_at, seq) WHERE status = 'queued';
CREATE INDEX bb_jobs_claim_queue ON bb_jobs (queue, priority DESC, run_at, seq)
    WHERE status = 'queued';
-- wait_for_work: when is the next pending job due (in all queues, or in some)?
CREATE INDEX bb_jobs_due ON bb_jobs (run_at) WHERE status = 'queued';
CREATE INDEX bb_jobs_due_queue ON bb_jobs (queue, run_at) WHERE status = 'queued';
-- at most one live job per unique_key; enqueue relies on it with ON CONFLICT DO NOTHING
CREATE UNIQUE INDEX bb_jobs_unique ON bb_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX bb_jobs_lease ON bb_jobs (lease_until) WHERE status = 'running';
CREATE INDEX bb_jobs_finished ON bb_jobs (finished_at)
    WHERE status IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX bb_jobs_task ON bb_jobs (task, seq);

-- flow control: the running jobs holding each concurrency key's slots, and the queued
-- jobs of each rate key (only jobs with a limit are in these indexes)
CREATE INDEX bb_jobs_holders ON bb_jobs (concurrency_key)
    WHERE status = 'running' AND concurrency_key IS NOT NULL;
CREATE INDEX bb_jobs_rate_waiting ON bb_jobs (rate_key)
    WHERE status = 'queued' AND rate_key IS NOT NULL;

-- the sliding window of each rate key: one row per start, until it leaves the window
CREATE TABLE bb_rate_starts (
    key        text             NOT NULL,
    until      double precision NOT NULL,
    job_id     text             NOT NULL,
    rate_limit integer          NOT NULL  -- the job's: a window this full is full
);
CREATE INDEX bb_rate_starts_key ON bb_rate_starts (key, until);

-- concurrency slots in use per key: a claim takes them, every ending of an attempt gives
-- them back, each in the same statement, under this row's lock, so racing claims never
-- exceed `cap` (the limit of the last claim; wanted and granted are its scratch)
CREATE TABLE bb_slots (
    key     text    PRIMARY KEY,
    used    integer NOT NULL,
    cap     integer NOT NULL,
    wanted  integer NOT NULL,
    granted integer NOT NULL
);

-- paused queues: workers claim nothing from them until resumed
CREATE TABLE bb_paused (
    queue     text             PRIMARY KEY,
    paused_at double precision NOT NULL
);

CREATE TABLE bb_workers (
    id           text             PRIMARY KEY,
    host         text             NOT NULL,
    pid          integer          NOT NULL,
    started_at   double precision NOT NULL,
    heartbeat_at double precision NOT NULL,
    queues       jsonb            NOT NULL,
    jobs         jsonb            NOT NULL
);
