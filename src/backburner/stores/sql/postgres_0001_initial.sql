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
                         ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
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
    trace_context    text,
    -- set by a forced cancel: seconds the job gets once told
    cancel_grace     double precision,
    schedule         text,
    scheduled_for    double precision,
    depends_on       jsonb            NOT NULL DEFAULT '[]',
    takes_results    boolean          NOT NULL DEFAULT false,
    -- how many of depends_on have not succeeded yet: a 'waiting' job is queued at 0
    waiting_for      integer          NOT NULL DEFAULT 0,
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
-- at most one live job per unique_key (a waiting job holds it: it is queued unchecked);
-- enqueue relies on it with ON CONFLICT DO NOTHING
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
    jobs         jsonb            NOT NULL,
    tasks        jsonb            NOT NULL DEFAULT '[]'  -- the task names its app registers
);

-- periodic jobs: one row per tick of a schedule; the primary key is what makes a tick's
-- job exist once however many workers race for it (see Store.enqueue_tick)
CREATE TABLE bb_ticks (
    schedule    text             NOT NULL,
    at          double precision NOT NULL,
    definition  text             NOT NULL,
    generation  double precision NOT NULL,
    job_id      text,
    enqueued    boolean          NOT NULL,
    missed      integer          NOT NULL,
    recorded_at double precision NOT NULL,
    PRIMARY KEY (schedule, at)
);

-- Job logs: what each attempt printed or logged, numbered per job (seq 1, 2, ...); they
-- go with their job whatever deletes it (purge, prune).
CREATE TABLE bb_logs (
    job_id  text             NOT NULL REFERENCES bb_jobs (id) ON DELETE CASCADE,
    seq     bigint           NOT NULL,
    attempt integer          NOT NULL,
    at      double precision NOT NULL,
    stream  text             NOT NULL,
    level   text,
    message text             NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- dependencies: job_id waits for dep_id. A job's own list, in order, is its depends_on;
-- this table finds the dependents of a job when it ends. Purge deletes a job's edges.
CREATE TABLE bb_deps (
    dep_id text NOT NULL,
    job_id text NOT NULL,
    PRIMARY KEY (dep_id, job_id)
);
CREATE INDEX bb_deps_job ON bb_deps (job_id);

-- outcomes of attempts per minute and queue, summed from every worker (the dashboard's
-- charts); pruned after 8 days
CREATE TABLE bb_history (
    minute  double precision NOT NULL,
    queue   text             NOT NULL,
    outcome text             NOT NULL,
    count   bigint           NOT NULL,
    PRIMARY KEY (minute, queue, outcome)
);

-- what operators did (dashboard and CLI actions), newest found by seq
CREATE TABLE bb_audit (
    seq    bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     double precision NOT NULL,
    actor  text             NOT NULL,
    action text             NOT NULL,
    target text             NOT NULL,
    detail text             NOT NULL,
    source text             NOT NULL
);
