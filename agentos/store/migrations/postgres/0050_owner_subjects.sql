-- 0050_owner_subjects: owners are token subjects, not only user ids
-- (PostgreSQL).
--
-- A job, a clip and an upload belong to the subject (`sub`) of the token that
-- created them. A subject is any text: a user's id, or a name such as
-- "ops-alice" for an operator or a service. owner_id was uuid, which refused
-- every subject that is not a UUID; it becomes text of 1 to 255 characters.
-- Existing owners, all UUIDs, keep their canonical text form, which is the
-- form tokens carry, so ownership of existing rows is unchanged. The owner
-- indexes are rebuilt by the type change.
ALTER TABLE jobs ALTER COLUMN owner_id TYPE text USING owner_id::text;
ALTER TABLE jobs ADD CONSTRAINT jobs_owner_id_length
    CHECK (char_length(owner_id) BETWEEN 1 AND 255);

ALTER TABLE clips ALTER COLUMN owner_id TYPE text USING owner_id::text;
ALTER TABLE clips ADD CONSTRAINT clips_owner_id_length
    CHECK (char_length(owner_id) BETWEEN 1 AND 255);

ALTER TABLE uploads ALTER COLUMN owner_id TYPE text USING owner_id::text;
ALTER TABLE uploads ADD CONSTRAINT uploads_owner_id_length
    CHECK (char_length(owner_id) BETWEEN 1 AND 255);
