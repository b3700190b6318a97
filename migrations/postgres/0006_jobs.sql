-- Bulk cancellation jobs (Postgres dialect). A job's documents are audit rows whose
-- `attempt_id` is the job's id; they wait in the new status `waiting` until a runner claims a
-- slice of them (docs/jobs.md).

ALTER TABLE audit_events DROP CONSTRAINT audit_events_status_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_status_check
    CHECK (status IN ('waiting', 'pending', 'cancelled', 'already_cancelled', 'failed'));
-- The row belongs to a job: recovery of interrupted requests leaves its `pending` rows to the
-- job runner, which resumes them itself once their lease has passed.
ALTER TABLE audit_events ADD COLUMN job BOOLEAN NOT NULL DEFAULT FALSE;
-- Slices that carried the document so far, and when a `waiting` document may next be claimed.
ALTER TABLE audit_events ADD COLUMN job_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN job_next_at BIGINT;

-- What a job runner claims: waiting documents by when they are due, per vendor lane.
CREATE INDEX audit_events_waiting ON audit_events (job_next_at) WHERE status = 'waiting';
-- Job documents being cancelled, for a runner that takes over an expired lease.
CREATE INDEX audit_events_job_pending ON audit_events (recovery_lease_until)
    WHERE status = 'pending' AND job = TRUE;

-- The purge keeps waiting documents as it keeps pending ones (`past_recovery!`).
DROP INDEX audit_events_purgeable;
CREATE INDEX audit_events_purgeable ON audit_events (received_at)
    WHERE status NOT IN ('pending', 'waiting') AND outcome_unknown = FALSE AND queued = FALSE;

CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY,
    request_id      TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'cancelled')),
    total           BIGINT  NOT NULL CHECK (total > 0),
    email           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    notify_signers  BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    callback_url    TEXT,
    -- NULL without a callback; `pending` from the job's end until delivered or given up.
    callback_state  TEXT    CHECK (callback_state IN ('pending', 'delivered', 'failed')),
    callback_next_at BIGINT,
    callback_attempts BIGINT NOT NULL DEFAULT 0,
    callback_owner  TEXT,
    callback_lease_until BIGINT
);

CREATE INDEX jobs_active ON jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_callbacks ON jobs (callback_next_at) WHERE callback_state = 'pending';

-- Every delivery attempt of a job's callback.
CREATE TABLE job_callback_attempts (
    job_id  TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL CHECK (attempt > 0),
    at      BIGINT NOT NULL,
    status  BIGINT CHECK (status BETWEEN 0 AND 65535),
    error   TEXT,
    PRIMARY KEY (job_id, attempt)
);
