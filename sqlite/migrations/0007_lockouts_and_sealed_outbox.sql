-- Latchkey schema, version 7: escalating lockouts; sealed and suppressed
-- outbox messages.
-- The PostgreSQL twin is postgres/migrations/0007_lockouts_and_sealed_outbox.sql.

-- consecutive counts every failure since the subject's last success, across
-- lockouts (never more than 100); lockouts counts the lockouts since then,
-- each twice as long as the one before. A counter in the middle of a run
-- carries its failures over.
ALTER TABLE attempt_counters ADD COLUMN consecutive INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempt_counters ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
UPDATE attempt_counters SET consecutive = failures;

-- The outbox gains two columns and a status, which in SQLite means building
-- it anew. sealed holds a queued message's subject, text and HTML, sealed
-- under the server secret (AES-256-GCM): the outbox keeps no code or link
-- in clear (messages queued before this version keep their clear columns
-- until they are delivered). suppressed marks a decoy's message
-- (hide_unknown_users): queued and claimed like any other, never handed to
-- a provider, and recorded with the status 'suppressed'.
CREATE TABLE outbox_v7 (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    body_text       TEXT NOT NULL DEFAULT '',
    body_html       TEXT NOT NULL DEFAULT '',
    sender          TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    provider        TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    sent_at         INTEGER NOT NULL DEFAULT 0,
    sealed          BLOB NOT NULL DEFAULT x'',
    suppressed      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox_v7 (id, app_id, channel, recipient, subject, body_text, body_html, sender, status, attempts,
    last_error, provider, created_at, next_attempt_at, expires_at, sent_at)
SELECT id, app_id, channel, recipient, subject, body_text, body_html, sender, status, attempts,
    last_error, provider, created_at, next_attempt_at, expires_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v7 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);
