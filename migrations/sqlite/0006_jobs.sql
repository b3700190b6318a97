-- Bulk cancellation jobs (SQLite dialect). A job's documents are audit rows whose
-- `attempt_id` is the job's id; they wait in the new status `waiting` until the runner claims a
-- slice of them (docs/jobs.md).
--
-- SQLite cannot change a CHECK constraint in place, so `audit_events` is rebuilt with the new
-- status (this copies the table once) and its indexes are created again.

CREATE TABLE audit_events_new (
    attempt_id      TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    idempotency_key TEXT,
    received_at     INTEGER NOT NULL,
    finished_at     INTEGER,
    email           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    vendor          TEXT,
    vendor_code     TEXT,
    status          TEXT    NOT NULL
        CHECK (status IN ('waiting', 'pending', 'cancelled', 'already_cancelled', 'failed')),
    error_code      TEXT,
    vendor_status   INTEGER CHECK (vendor_status BETWEEN 0 AND 65535),
    vendor_calls    INTEGER NOT NULL DEFAULT 0 CHECK (vendor_calls >= 0),
    notify_signers  INTEGER NOT NULL DEFAULT 1,
    error_message   TEXT,
    outcome_unknown INTEGER NOT NULL DEFAULT 0,
    recovery_owner  TEXT,
    recovery_lease_until INTEGER,
    recovered_at    INTEGER,
    recovered_by    TEXT,
    vendor_state    TEXT
        CHECK (vendor_state IN ('in_progress', 'cancelled', 'signed', 'closed', 'not_found')),
    queued          INTEGER NOT NULL DEFAULT 0,
    confirm_at      INTEGER,
    -- The row belongs to a job: recovery of interrupted requests leaves its `pending` rows to
    -- the job runner, which resumes them itself once their lease has passed.
    job             INTEGER NOT NULL DEFAULT 0,
    -- Slices that carried the document so far, and when a `waiting` document may next be
    -- claimed.
    job_attempts    INTEGER NOT NULL DEFAULT 0,
    job_next_at     INTEGER,
    PRIMARY KEY (attempt_id, position)
);

INSERT INTO audit_events_new (
    attempt_id, request_id, position, idempotency_key, received_at, finished_at, email, message,
    code, vendor, vendor_code, status, error_code, vendor_status, vendor_calls, notify_signers,
    error_message, outcome_unknown, recovery_owner, recovery_lease_until, recovered_at,
    recovered_by, vendor_state, queued, confirm_at)
SELECT
    attempt_id, request_id, position, idempotency_key, received_at, finished_at, email, message,
    code, vendor, vendor_code, status, error_code, vendor_status, vendor_calls, notify_signers,
    error_message, outcome_unknown, recovery_owner, recovery_lease_until, recovered_at,
    recovered_by, vendor_state, queued, confirm_at
FROM audit_events;

DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;

CREATE INDEX audit_events_code_received_at ON audit_events (code, received_at DESC);
CREATE INDEX audit_events_pending ON audit_events (received_at) WHERE status = 'pending';
CREATE INDEX audit_events_unknown ON audit_events (received_at) WHERE outcome_unknown = TRUE;
CREATE INDEX audit_events_idempotency_key ON audit_events (idempotency_key)
    WHERE status = 'pending' AND idempotency_key IS NOT NULL;
CREATE INDEX audit_events_queued ON audit_events (confirm_at) WHERE queued = TRUE;
-- The purge keeps waiting documents as it keeps pending ones (`past_recovery!`).
CREATE INDEX audit_events_purgeable ON audit_events (received_at)
    WHERE status NOT IN ('pending', 'waiting') AND outcome_unknown = FALSE AND queued = FALSE;
-- What the job runner claims: waiting documents by when they are due.
CREATE INDEX audit_events_waiting ON audit_events (job_next_at) WHERE status = 'waiting';
-- Job documents being cancelled, for a runner that takes over an expired lease.
CREATE INDEX audit_events_job_pending ON audit_events (recovery_lease_until)
    WHERE status = 'pending' AND job = TRUE;

CREATE TABLE jobs (
    id              TEXT    NOT NULL PRIMARY KEY,
    request_id      TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'cancelled')),
    total           INTEGER NOT NULL CHECK (total > 0),
    email           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    notify_signers  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    callback_url    TEXT,
    -- NULL without a callback; `pending` from the job's end until delivered or given up.
    callback_state  TEXT    CHECK (callback_state IN ('pending', 'delivered', 'failed')),
    callback_next_at INTEGER,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_owner  TEXT,
    callback_lease_until INTEGER
);

CREATE INDEX jobs_active ON jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_callbacks ON jobs (callback_next_at) WHERE callback_state = 'pending';

-- Every delivery attempt of a job's callback.
CREATE TABLE job_callback_attempts (
    job_id  TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL CHECK (attempt > 0),
    at      INTEGER NOT NULL,
    status  INTEGER CHECK (status BETWEEN 0 AND 65535),
    error   TEXT,
    PRIMARY KEY (job_id, attempt)
);
