-- 0031_execution_owner: which process runs an execution, and when it last
-- said so (PostgreSQL).
--
-- A process refreshes heartbeat_at of the executions it owns every few
-- seconds. An execution still queued or running whose heartbeat is older than
-- a grace period belongs to a dead process and is marked 'interrupted'.
ALTER TABLE action_executions ADD COLUMN owner text;
ALTER TABLE action_executions ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX action_executions_live_idx ON action_executions (status, heartbeat_at);
