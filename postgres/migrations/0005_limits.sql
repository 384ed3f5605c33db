-- Latchkey schema, version 5: per-app abuse limits, and the counters that
-- enforce them. Existing apps get the default limits.
-- The PostgreSQL twin of sqlite/migrations/0005_limits.sql.

ALTER TABLE apps ADD COLUMN resend_cooldown_ms BIGINT NOT NULL DEFAULT 30000;
ALTER TABLE apps ADD COLUMN sends_per_hour INTEGER NOT NULL DEFAULT 10;
ALTER TABLE apps ADD COLUMN sends_per_day INTEGER NOT NULL DEFAULT 30;
ALTER TABLE apps ADD COLUMN sms_countries TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN sms_daily_budget INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN sms_prefix_per_hour INTEGER NOT NULL DEFAULT 20;
ALTER TABLE apps ADD COLUMN max_failures_per_minute INTEGER NOT NULL DEFAULT 1000;
ALTER TABLE apps ADD COLUMN ip_sends_per_hour INTEGER NOT NULL DEFAULT 1000;
ALTER TABLE apps ADD COLUMN ip_failures_per_hour INTEGER NOT NULL DEFAULT 500;
-- A JSON list of {"identifier", "code_hash"}: only keyed hashes of the codes.
ALTER TABLE apps ADD COLUMN test_identifiers TEXT NOT NULL DEFAULT '[]';

-- One row per rate-limit key. Keys are opaque (an app ID, a limit name and
-- a keyed hash of the value), so no address or number is stored in clear.
-- events holds the recent event times (varint-encoded, see
-- latchkey.EncodeEvents).
CREATE TABLE rate_counters (
    counter_key   TEXT PRIMARY KEY,
    events        BYTEA NOT NULL,
    count         INTEGER NOT NULL DEFAULT 0,
    blocked_until BIGINT NOT NULL DEFAULT 0,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX rate_counters_expiry ON rate_counters (expires_at);
