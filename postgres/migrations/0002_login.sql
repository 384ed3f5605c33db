-- Latchkey schema, version 2: one-time login challenges and their failure
-- counters, sessions and refresh tokens, the outbox and the dev inbox.
-- The PostgreSQL twin of sqlite/migrations/0002_login.sql.

CREATE TABLE challenges (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('otp', 'link')),
    subject       TEXT NOT NULL,
    user_id       TEXT REFERENCES users (id) ON DELETE CASCADE,
    channel       TEXT NOT NULL,
    destination   TEXT NOT NULL DEFAULT '',
    code_hash     BYTEA NOT NULL UNIQUE,
    request_id    TEXT NOT NULL DEFAULT '',
    redirect_uri  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT '',
    approval_data TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    consumed_at   BIGINT NOT NULL DEFAULT 0
);
-- At most one live challenge per app, kind and subject.
CREATE UNIQUE INDEX challenges_live ON challenges (app_id, kind, subject) WHERE consumed_at = 0;
CREATE INDEX challenges_expiry ON challenges (expires_at);

CREATE TABLE attempt_counters (
    app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    subject      TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, subject)
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    methods          TEXT NOT NULL DEFAULT '[]',
    authenticated_at BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    revoked_at       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (user_id, app_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    hash       BYTEA NOT NULL UNIQUE,
    family_id  TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audience   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    body_text       TEXT NOT NULL DEFAULT '',
    body_html       TEXT NOT NULL DEFAULT '',
    sender          TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    provider        TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    sent_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- seq stands in for SQLite's rowid: it breaks ties between messages
-- captured in the same millisecond, so both backends list them in the same
-- order.
CREATE TABLE dev_messages (
    id         TEXT PRIMARY KEY,
    seq        BIGSERIAL NOT NULL,
    app_id     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    body_text  TEXT NOT NULL DEFAULT '',
    body_html  TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX dev_messages_created ON dev_messages (created_at);
