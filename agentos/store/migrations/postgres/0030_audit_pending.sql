-- 0030_audit_pending: the write-ahead intents of admin actions (PostgreSQL).
--
-- Before an admin action runs, its audit record is made durable here; when
-- the action ends, the writer chains the finished record into audit_records
-- and deletes the intent in the same transaction. An intent left behind by a
-- process that died mid-action is chained at the next start with the outcome
-- 'interrupted'. owner names the process that will finish the intent.
CREATE TABLE audit_pending (
    id          uuid PRIMARY KEY,
    owner       text NOT NULL,
    created_at  timestamptz NOT NULL,
    record      jsonb NOT NULL
);
CREATE INDEX audit_pending_created_idx ON audit_pending (created_at);
