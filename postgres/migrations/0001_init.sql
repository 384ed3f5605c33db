-- Latchkey schema, version 1: tenant, applications, users and signing keys.
-- The PostgreSQL twin of sqlite/migrations/0001_init.sql: the same tables,
-- columns and constraints. Times are Unix milliseconds (BIGINT, 0 for the
-- zero time); lists and documents are JSON text; empty unique values are
-- NULL, which UNIQUE ignores.

CREATE TABLE tenant (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE apps (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    client_id                 TEXT NOT NULL UNIQUE,
    secret_hash               BYTEA NOT NULL,
    redirect_uris             TEXT NOT NULL DEFAULT '[]',
    resources                 TEXT NOT NULL DEFAULT '[]',
    management                BOOLEAN NOT NULL DEFAULT FALSE,
    otp_length                INTEGER NOT NULL,
    otp_expiry_ms             BIGINT NOT NULL,
    max_failures              INTEGER NOT NULL,
    lockout_ms                BIGINT NOT NULL,
    magic_link_expiry_ms      BIGINT NOT NULL,
    access_token_ttl_ms       BIGINT NOT NULL,
    id_token_ttl_ms           BIGINT NOT NULL,
    refresh_token_ttl_ms      BIGINT NOT NULL,
    session_ttl_ms            BIGINT NOT NULL,
    hide_unknown_users        BOOLEAN NOT NULL DEFAULT FALSE,
    public_signup             BOOLEAN NOT NULL DEFAULT FALSE,
    secret_rotated_at         BIGINT NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL DEFAULT '',
    email_key         TEXT UNIQUE,
    email_verified_at BIGINT NOT NULL DEFAULT 0,
    phone             TEXT UNIQUE,
    phone_verified_at BIGINT NOT NULL DEFAULT 0,
    username          TEXT NOT NULL DEFAULT '',
    username_key      TEXT UNIQUE,
    external_user_id  TEXT UNIQUE,
    status            TEXT NOT NULL CHECK (status IN ('Active', 'Disabled', 'Pending')),
    status_changed_at BIGINT NOT NULL,
    last_auth_at      BIGINT NOT NULL DEFAULT 0,
    profile           TEXT NOT NULL DEFAULT '{}',
    identities        TEXT NOT NULL DEFAULT '[]',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE app_users (
    app_id              TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_account_id TEXT NOT NULL DEFAULT '',
    custom_app_data     TEXT NOT NULL DEFAULT '',
    added_at            BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_users_user ON app_users (user_id);

CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_sealed BYTEA NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT NOT NULL DEFAULT 0,
    retired_at     BIGINT NOT NULL DEFAULT 0,
    publish_until  BIGINT NOT NULL DEFAULT 0
);
-- At most one key signs and at most one waits to sign.
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');
