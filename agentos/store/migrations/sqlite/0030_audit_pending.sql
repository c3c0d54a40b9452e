-- 0030_audit_pending: the write-ahead intents of admin actions (SQLite).
--
-- The PostgreSQL twin (migrations/postgres/0030_audit_pending.sql) explains
-- the table; keep the two in step.
CREATE TABLE audit_pending (
    id          UUID PRIMARY KEY,
    owner       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    record      JSONB NOT NULL
);
CREATE INDEX audit_pending_created_idx ON audit_pending (created_at);
