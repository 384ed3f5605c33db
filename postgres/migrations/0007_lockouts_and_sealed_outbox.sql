-- Latchkey schema, version 7: escalating lockouts; sealed and suppressed
-- outbox messages.
-- The PostgreSQL twin of sqlite/migrations/0007_lockouts_and_sealed_outbox.sql.

-- consecutive counts every failure since the subject's last success, across
-- lockouts (never more than 100); lockouts counts the lockouts since then,
-- each twice as long as the one before. A counter in the middle of a run
-- carries its failures over.
ALTER TABLE attempt_counters ADD COLUMN consecutive INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempt_counters ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
UPDATE attempt_counters SET consecutive = failures;

-- sealed holds a queued message's subject, text and HTML, sealed under the
-- server secret (AES-256-GCM): the outbox keeps no code or link in clear
-- (messages queued before this version keep their clear columns until they
-- are delivered). suppressed marks a decoy's message (hide_unknown_users):
-- queued and claimed like any other, never handed to a provider, and
-- recorded with the status 'suppressed'.
ALTER TABLE outbox ADD COLUMN sealed BYTEA NOT NULL DEFAULT ''::bytea;
ALTER TABLE outbox ADD COLUMN suppressed BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('queued', 'sent', 'failed', 'suppressed'));
