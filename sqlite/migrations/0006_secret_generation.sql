-- Latchkey schema, version 6: each app's client secret generation, counted
-- up by every secret rotation and written into the client access tokens the
-- secret obtains, so a rotation ends exactly the tokens of earlier secrets.
-- Existing apps start at 0, the generation of tokens that carry none.

ALTER TABLE apps ADD COLUMN secret_generation INTEGER NOT NULL DEFAULT 0;
