-- Latchkey schema, version 3: per-app branding of emails and SMS.
-- The PostgreSQL twin of sqlite/migrations/0003_branding.sql.

ALTER TABLE apps ADD COLUMN sender_name TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN logo_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN primary_color TEXT NOT NULL DEFAULT '';
