-- 0031_execution_owner: which process runs an execution, and when it last
-- said so (SQLite). The PostgreSQL twin explains the columns.
ALTER TABLE action_executions ADD COLUMN owner TEXT;
ALTER TABLE action_executions ADD COLUMN heartbeat_at TIMESTAMPTZ;
CREATE INDEX action_executions_live_idx ON action_executions (status, heartbeat_at);
