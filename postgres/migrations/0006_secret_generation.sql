-- Latchkey schema, version 6: each app's client secret generation.
-- The PostgreSQL twin of sqlite/migrations/0006_secret_generation.sql.

ALTER TABLE apps ADD COLUMN secret_generation BIGINT NOT NULL DEFAULT 0;
