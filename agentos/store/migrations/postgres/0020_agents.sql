-- 0020_agents: agent restarts, agent log lookups and the default agent (PostgreSQL).
--
-- generation counts restarts: a worker remembers the generation it started
-- under and exits once the agent's generation is higher, so a restart takes
-- effect without any process being signalled.
--
-- The default agent "clipper" lets the embedded service take jobs out of the
-- box. Its two job kinds declare the JSON Schema of their params; the jobs
-- service validates every new job's params against it. The SQLite twin
-- inserts the same row with the same id.

ALTER TABLE agents ADD COLUMN generation integer NOT NULL DEFAULT 0
    CHECK (generation >= 0);

CREATE INDEX logs_agent_ts_idx ON logs (agent_id, ts);

INSERT INTO agents (id, name, agent_type, desired_state, observed_state, paused,
                    concurrency, config, job_kinds, created_at, updated_at)
VALUES (
    'c11a0000-0000-4000-8000-000000000001', 'clipper', 'clipper', 'running',
    'stopped', false, 1,
    '{"timeout_seconds": 3600, "max_attempts": 3,
      "heartbeat_interval_seconds": 5, "labels": {}, "options": {}}',
    '[{"kind": "clip.cut",
       "params_schema": {"type": "object",
                         "properties": {"source": {"type": "string", "minLength": 1},
                                        "start_ms": {"type": "integer", "minimum": 0},
                                        "end_ms": {"type": "integer", "minimum": 1}},
                         "required": ["source", "start_ms", "end_ms"],
                         "additionalProperties": false}},
      {"kind": "transcode",
       "params_schema": {"type": "object",
                         "properties": {"format": {"type": "string",
                                                   "enum": ["mp4", "webm"]}},
                         "required": ["format"],
                         "additionalProperties": false}}]',
    now(), now()
)
ON CONFLICT (name) DO NOTHING;
