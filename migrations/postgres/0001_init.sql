-- signgate store schema, Postgres dialect. Times are unix milliseconds (UTC).

-- One row per Idempotency-Key (SPEC 5.1). `locked_at` is when the key was claimed (or, once
-- completed, when it completed); `body` holds the stored 200 answer once `completed`.
CREATE TABLE idempotency_keys (
    key         TEXT    NOT NULL PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
    body        BYTEA,
    locked_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    CHECK (state = 'in_progress' OR body IS NOT NULL)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- One row per document per accepted request (SPEC 5.2), written `pending` before any vendor
-- call and updated with the outcome. Never holds credentials.
CREATE TABLE audit_events (
    -- signgate's own id for the request: clients choose request ids and may repeat them.
    attempt_id      TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    position        BIGINT  NOT NULL CHECK (position >= 0),
    idempotency_key TEXT,
    received_at     BIGINT  NOT NULL,
    finished_at     BIGINT,
    email           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    vendor          TEXT,
    vendor_code     TEXT,
    status          TEXT    NOT NULL
        CHECK (status IN ('pending', 'cancelled', 'already_cancelled', 'failed')),
    error_code      TEXT,
    vendor_status   BIGINT  CHECK (vendor_status BETWEEN 0 AND 65535),
    vendor_calls    BIGINT  NOT NULL DEFAULT 0 CHECK (vendor_calls >= 0),
    PRIMARY KEY (attempt_id, position)
);

CREATE INDEX audit_events_code_received_at ON audit_events (code, received_at DESC);
