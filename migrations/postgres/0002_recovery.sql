-- Recovery of interrupted cancels (Postgres dialect).

-- What a recovery needs to re-send a cancel, and to rebuild the answer a request would have
-- given: the request's notify_signers and each outcome's message.
ALTER TABLE audit_events ADD COLUMN notify_signers BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE audit_events ADD COLUMN error_message TEXT;
-- The answer could not say whether the vendor acted (a timeout after the call was sent): a
-- recovery reads the document's status later, records it in `vendor_state` and clears this.
ALTER TABLE audit_events ADD COLUMN outcome_unknown BOOLEAN NOT NULL DEFAULT FALSE;
-- Who is resolving the row (a recovery, or a retry that took over its Idempotency-Key) and
-- until when; another recovery may claim it once the lease has passed.
ALTER TABLE audit_events ADD COLUMN recovery_owner TEXT;
ALTER TABLE audit_events ADD COLUMN recovery_lease_until BIGINT;
-- When and by whom a row was resolved after its request could not finish it, and the
-- document's state at the vendor as that recovery read it.
ALTER TABLE audit_events ADD COLUMN recovered_at BIGINT;
ALTER TABLE audit_events ADD COLUMN recovered_by TEXT;
ALTER TABLE audit_events ADD COLUMN vendor_state TEXT
    CHECK (vendor_state IN ('in_progress', 'cancelled', 'signed', 'closed', 'not_found'));

-- What a recovery pass looks at, without scanning the table.
CREATE INDEX audit_events_pending ON audit_events (received_at) WHERE status = 'pending';
CREATE INDEX audit_events_unknown ON audit_events (received_at) WHERE outcome_unknown = TRUE;
CREATE INDEX audit_events_idempotency_key ON audit_events (idempotency_key)
    WHERE status = 'pending' AND idempotency_key IS NOT NULL;

-- The attempt holding the key, and the one it took the key over from (a crashed process).
ALTER TABLE idempotency_keys ADD COLUMN attempt_id TEXT;
ALTER TABLE idempotency_keys ADD COLUMN previous_attempt TEXT;
