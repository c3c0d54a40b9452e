-- 0032_audit_append: one round trip for a whole audit batch (PostgreSQL).
--
-- The audit writer hashes and links a batch in Python after the chain head it
-- last saw, then hands everything to audit_append in one statement, which is
-- its own transaction: new intents are inserted, the chain lock is taken, and
-- if the head is still the one expected the records are inserted and their
-- intents deleted. If another writer moved the head meanwhile, nothing but the
-- intents is written and the actual head is returned, so the writer links the
-- batch again after it and retries. The lock key is the writer's
-- CHAIN_LOCK_KEY (agentos/pipeline/audit.py).
CREATE FUNCTION audit_append(
    intents jsonb,
    expected_seq bigint,
    expected_hash text,
    records jsonb,
    finished uuid[]
) RETURNS TABLE (head_seq bigint, head_hash text, appended boolean)
LANGUAGE plpgsql AS $$
DECLARE
    found_seq bigint;
    found_hash text;
BEGIN
    INSERT INTO audit_pending (id, owner, created_at, record)
    SELECT i.id, i.owner, i.created_at, i.record
    FROM jsonb_to_recordset(intents)
        AS i(id uuid, owner text, created_at timestamptz, record jsonb);

    IF jsonb_array_length(records) = 0 THEN
        RETURN QUERY SELECT expected_seq, expected_hash, true;
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(7022629598040908648);
    SELECT a.seq, a.hash INTO found_seq, found_hash
    FROM audit_records AS a ORDER BY a.seq DESC LIMIT 1;
    found_seq := coalesce(found_seq, 0);
    found_hash := coalesce(found_hash, repeat('0', 64));
    IF found_seq <> expected_seq OR found_hash <> expected_hash THEN
        RETURN QUERY SELECT found_seq, found_hash, false;
        RETURN;
    END IF;

    INSERT INTO audit_records (
        seq, ts, actor, roles, action, payload, decision, rule, outcome, status,
        error_code, trace_id, client_ip, user_agent, idempotency_key, duration_ms,
        registry_version, policy_version, prev_hash, hash
    )
    SELECT r.seq, r.ts, r.actor, coalesce(r.roles, '[]'), r.action, r.payload,
           r.decision, r.rule, r.outcome, r.status, r.error_code, r.trace_id,
           r.client_ip, r.user_agent, r.idempotency_key, r.duration_ms,
           r.registry_version, r.policy_version, r.prev_hash, r.hash
    FROM jsonb_to_recordset(records) AS r(
        seq bigint, ts timestamptz, actor text, roles jsonb, action text,
        payload jsonb, decision text, rule text, outcome text, status integer,
        error_code text, trace_id text, client_ip text, user_agent text,
        idempotency_key text, duration_ms double precision, registry_version text,
        policy_version text, prev_hash text, hash text
    )
    ORDER BY r.seq;

    DELETE FROM audit_pending WHERE id = ANY(finished);

    RETURN QUERY
    SELECT a.seq, a.hash, true FROM audit_records AS a ORDER BY a.seq DESC LIMIT 1;
END;
$$;
