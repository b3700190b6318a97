-- Queued cancels and discovered code owners (SQLite dialect).

-- The vendor accepted the cancel and applies it later (Dropbox Sign): the answer said
-- `cancelled` with `queued: true`; a recovery confirms it with a status read at `confirm_at`
-- (and later again, while the document is still in progress) and then clears this.
ALTER TABLE audit_events ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN confirm_at INTEGER;
CREATE INDEX audit_events_queued ON audit_events (confirm_at) WHERE queued = TRUE;

-- Which vendor holds a code that a routing rule with several candidate vendors matched, as a
-- status read found it: later requests for the code go there directly.
CREATE TABLE code_owners (
    code     TEXT PRIMARY KEY NOT NULL,
    vendor   TEXT NOT NULL,
    found_at INTEGER NOT NULL
);
