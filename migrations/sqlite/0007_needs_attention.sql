-- Quarantine of rows whose handling failed twice (SQLite dialect; docs/design.md,
-- "Background work").
--
-- Every claim of a row (by the job runner or a recovery) adds 1; writing its outcome back sets
-- 0. A row at 2 whose lease has passed was claimed twice by handlings that died before writing
-- anything (a panic, or the process killed): it is quarantined with the error code
-- `needs_attention` and never claimed again.
ALTER TABLE audit_events ADD COLUMN handling_claims INTEGER NOT NULL DEFAULT 0;

-- What the recovery's quarantine reads at each pass: the few rows claimed twice.
CREATE INDEX audit_events_claimed_twice ON audit_events (handling_claims)
    WHERE handling_claims >= 2;
