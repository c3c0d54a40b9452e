-- 0040_ssot_indexes: what the SSOT document reads most often (PostgreSQL).
--
-- The oldest waiting job and the running jobs in start order each become one
-- index range scan that stops at its LIMIT, instead of reading and sorting
-- every queued or running job on each collection of the document.
CREATE INDEX jobs_status_queued_at_idx ON jobs (status, queued_at);
CREATE INDEX jobs_status_started_at_idx ON jobs (status, started_at);
