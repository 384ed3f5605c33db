-- Latchkey schema, version 4: find a recipient's dev inbox messages by index.

CREATE INDEX dev_messages_recipient ON dev_messages (recipient, created_at);
