-- Retention of the audit trail (SQLite dialect).

-- What the purge reads: audit rows recovery no longer needs, by age. The predicate is, word for
-- word, the fixed part of `past_recovery!` in src/store/sql.rs (the lease is checked per row),
-- so rows kept forever (pending, unknown outcomes, queued) are never scanned again and again.
CREATE INDEX audit_events_purgeable ON audit_events (received_at)
    WHERE status <> 'pending' AND outcome_unknown = FALSE AND queued = FALSE;

-- Remembered code owners, by age.
CREATE INDEX code_owners_found_at ON code_owners (found_at);
