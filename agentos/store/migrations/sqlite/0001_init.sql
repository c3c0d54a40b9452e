-- 0001_init: the tables the control plane starts from (SQLite).
--
-- The PostgreSQL twin (migrations/postgres/0001_init.sql) declares the same
-- tables and constraints; keep the two in step. The declared types UUID,
-- TIMESTAMPTZ, JSONB and BOOLEAN are what the adapter's converters key on, so
-- rows come back with the same Python types as on PostgreSQL. Times come from
-- the application, so no column defaults to the current time.

CREATE TABLE users (
    id          UUID PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    email       TEXT,
    roles       JSONB NOT NULL DEFAULT '[]' CHECK (json_type(roles) = 'array'),
    disabled    BOOLEAN NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE agents (
    id              UUID PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    agent_type      TEXT NOT NULL,
    desired_state   TEXT NOT NULL,
    observed_state  TEXT NOT NULL,
    paused          BOOLEAN NOT NULL DEFAULT 0,
    concurrency     INTEGER NOT NULL DEFAULT 1 CHECK (concurrency >= 0),
    config          JSONB NOT NULL DEFAULT '{}',
    job_kinds       JSONB NOT NULL DEFAULT '[]'
                    CHECK (json_type(job_kinds) = 'array'),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX agents_agent_type_idx ON agents (agent_type);

CREATE TABLE workers (
    id                 TEXT PRIMARY KEY,
    agent_id           UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    host               TEXT NOT NULL,
    pid                INTEGER,
    state              TEXT NOT NULL,
    current_job_id     UUID,
    started_at         TIMESTAMPTZ NOT NULL,
    last_heartbeat_at  TIMESTAMPTZ
);
CREATE INDEX workers_agent_id_idx ON workers (agent_id);

CREATE TABLE jobs (
    id           UUID PRIMARY KEY,
    owner_id     UUID NOT NULL,
    kind         TEXT NOT NULL,
    params       JSONB NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                   'cancelled')),
    priority     INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 9),
    agent_type   TEXT,
    agent_id     UUID,
    worker_id    TEXT,
    upload_id    UUID,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    progress     REAL NOT NULL DEFAULT 0
                 CHECK (progress >= 0 AND progress <= 1),
    error        TEXT,
    result       JSONB,
    created_at   TIMESTAMPTZ NOT NULL,
    queued_at    TIMESTAMPTZ,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_status_idx ON jobs (status);
CREATE INDEX jobs_owner_created_idx ON jobs (owner_id, created_at);
CREATE INDEX jobs_dispatch_idx ON jobs (agent_type, status, priority);

-- A job with clips cannot be deleted until its clips are: the clip files on
-- disk must be removed by whoever removes the rows.
CREATE TABLE clips (
    id          UUID PRIMARY KEY,
    job_id      UUID NOT NULL REFERENCES jobs (id),
    owner_id    UUID NOT NULL,
    path        TEXT NOT NULL,
    start_ms    INTEGER NOT NULL CHECK (start_ms >= 0),
    end_ms      INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE INDEX clips_job_id_idx ON clips (job_id);
CREATE INDEX clips_owner_created_idx ON clips (owner_id, created_at);

CREATE TABLE uploads (
    id            UUID PRIMARY KEY,
    owner_id      UUID NOT NULL,
    filename      TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT,
    content_type  TEXT,
    chunk_size    INTEGER NOT NULL CHECK (chunk_size > 0),
    total_chunks  INTEGER NOT NULL CHECK (total_chunks >= 0),
    status        TEXT NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'finalizing', 'complete', 'failed',
                                    'expired')),
    storage_path  TEXT,
    job_id        UUID,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    finalized_at  TIMESTAMPTZ
);
CREATE INDEX uploads_owner_created_idx ON uploads (owner_id, created_at);
CREATE INDEX uploads_status_updated_idx ON uploads (status, updated_at);

CREATE TABLE config_versions (
    version     INTEGER PRIMARY KEY CHECK (version > 0),
    scope       TEXT NOT NULL,
    document    JSONB NOT NULL,
    actor       TEXT NOT NULL,
    comment     TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX config_versions_scope_idx ON config_versions (scope, version);

CREATE TABLE logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        TIMESTAMPTZ NOT NULL,
    level     TEXT NOT NULL,
    logger    TEXT NOT NULL,
    message   TEXT NOT NULL,
    agent_id  UUID,
    job_id    UUID,
    trace_id  TEXT,
    fields    JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX logs_ts_idx ON logs (ts);
CREATE INDEX logs_job_ts_idx ON logs (job_id, ts);

-- The audit trail. seq is assigned by the single writer that extends the
-- hash chain, so it is not an identity column.
CREATE TABLE audit_records (
    seq               INTEGER PRIMARY KEY,
    ts                TIMESTAMPTZ NOT NULL,
    actor             TEXT NOT NULL,
    roles             JSONB NOT NULL DEFAULT '[]',
    action            TEXT NOT NULL,
    payload           JSONB,
    decision          TEXT NOT NULL,
    rule              TEXT,
    outcome           TEXT,
    status            INTEGER,
    error_code        TEXT,
    trace_id          TEXT,
    client_ip         TEXT,
    user_agent        TEXT,
    idempotency_key   TEXT,
    duration_ms       REAL,
    registry_version  TEXT,
    policy_version    TEXT,
    prev_hash         TEXT,
    hash              TEXT NOT NULL
);
CREATE INDEX audit_records_ts_idx ON audit_records (ts);
CREATE INDEX audit_records_actor_ts_idx ON audit_records (actor, ts);
CREATE INDEX audit_records_action_ts_idx ON audit_records (action, ts);

-- Append-only, enforced by the database: triggers refuse UPDATE and DELETE
-- (SQLite has no TRUNCATE). RAISE(ABORT) is a constraint error, which the
-- adapter answers as a conflict.
CREATE TRIGGER audit_records_refuse_update
BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit_records is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER audit_records_refuse_delete
BEFORE DELETE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit_records is append-only: DELETE is not allowed');
END;

CREATE TABLE action_executions (
    id           UUID PRIMARY KEY,
    action       TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                   'interrupted')),
    progress     REAL NOT NULL DEFAULT 0
                 CHECK (progress >= 0 AND progress <= 1),
    payload      JSONB NOT NULL DEFAULT '{}',
    result       JSONB,
    error        TEXT,
    actor        TEXT NOT NULL,
    trace_id     TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX action_executions_status_idx ON action_executions (status);
CREATE INDEX action_executions_created_idx ON action_executions (created_at);

CREATE TABLE alerts (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'acknowledged', 'resolved')),
    message          TEXT NOT NULL,
    fields           JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL,
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_by  TEXT,
    note             TEXT,
    resolved_at      TIMESTAMPTZ
);
CREATE INDEX alerts_status_created_idx ON alerts (status, created_at);
CREATE INDEX alerts_kind_status_idx ON alerts (kind, status);

CREATE TABLE backups (
    id          UUID PRIMARY KEY,
    path        TEXT NOT NULL,
    sha256      TEXT,
    size_bytes  INTEGER CHECK (size_bytes >= 0),
    row_counts  JSONB NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX backups_created_idx ON backups (created_at);

CREATE TABLE managers (
    name              TEXT PRIMARY KEY,
    state             TEXT NOT NULL,
    schedule          TEXT,
    config            JSONB NOT NULL DEFAULT '{}',
    runs              INTEGER NOT NULL DEFAULT 0 CHECK (runs >= 0),
    failures          INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_run_at       TIMESTAMPTZ,
    last_error        TEXT,
    last_duration_ms  REAL,
    updated_at        TIMESTAMPTZ NOT NULL
);
