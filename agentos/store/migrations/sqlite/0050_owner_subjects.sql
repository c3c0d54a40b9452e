-- 0050_owner_subjects: owners are token subjects, not only user ids (SQLite).
--
-- The PostgreSQL twin explains the change. SQLite cannot change a column's
-- declared type in place, and the declared type matters here: UUID has
-- numeric affinity, so a subject such as "1234" would read back as a number.
-- Each table is rebuilt with owner_id TEXT: copy, drop, rename, index again.
-- clips refers to jobs, so clips is set aside first and rebuilt last; with
-- foreign keys on, dropping jobs while clips still pointed at it would fail.

CREATE TABLE clips_kept AS SELECT * FROM clips;
DROP TABLE clips;

CREATE TABLE jobs_rebuilt (
    id           UUID PRIMARY KEY,
    owner_id     TEXT NOT NULL CHECK (length(owner_id) BETWEEN 1 AND 255),
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
INSERT INTO jobs_rebuilt (id, owner_id, kind, params, status, priority,
                          agent_type, agent_id, worker_id, upload_id, attempts,
                          progress, error, result, created_at, queued_at,
                          started_at, finished_at, updated_at)
SELECT id, CAST(owner_id AS TEXT), kind, params, status, priority, agent_type,
       agent_id, worker_id, upload_id, attempts, progress, error, result,
       created_at, queued_at, started_at, finished_at, updated_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;
CREATE INDEX jobs_status_idx ON jobs (status);
CREATE INDEX jobs_owner_created_idx ON jobs (owner_id, created_at);
CREATE INDEX jobs_dispatch_idx ON jobs (agent_type, status, priority);
CREATE INDEX jobs_status_queued_at_idx ON jobs (status, queued_at);
CREATE INDEX jobs_status_started_at_idx ON jobs (status, started_at);

CREATE TABLE clips (
    id          UUID PRIMARY KEY,
    job_id      UUID NOT NULL REFERENCES jobs (id),
    owner_id    TEXT NOT NULL CHECK (length(owner_id) BETWEEN 1 AND 255),
    path        TEXT NOT NULL,
    start_ms    INTEGER NOT NULL CHECK (start_ms >= 0),
    end_ms      INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK (end_ms > start_ms)
);
INSERT INTO clips (id, job_id, owner_id, path, start_ms, end_ms, size_bytes,
                   sha256, created_at)
SELECT id, job_id, CAST(owner_id AS TEXT), path, start_ms, end_ms, size_bytes,
       sha256, created_at
FROM clips_kept;
DROP TABLE clips_kept;
CREATE INDEX clips_job_id_idx ON clips (job_id);
CREATE INDEX clips_owner_created_idx ON clips (owner_id, created_at);

CREATE TABLE uploads_rebuilt (
    id            UUID PRIMARY KEY,
    owner_id      TEXT NOT NULL CHECK (length(owner_id) BETWEEN 1 AND 255),
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
INSERT INTO uploads_rebuilt (id, owner_id, filename, size_bytes, sha256,
                             content_type, chunk_size, total_chunks, status,
                             storage_path, job_id, created_at, updated_at,
                             finalized_at)
SELECT id, CAST(owner_id AS TEXT), filename, size_bytes, sha256, content_type,
       chunk_size, total_chunks, status, storage_path, job_id, created_at,
       updated_at, finalized_at
FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_rebuilt RENAME TO uploads;
CREATE INDEX uploads_owner_created_idx ON uploads (owner_id, created_at);
CREATE INDEX uploads_status_updated_idx ON uploads (status, updated_at);
