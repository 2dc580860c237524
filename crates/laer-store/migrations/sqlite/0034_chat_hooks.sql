-- Slack and Microsoft Teams incoming webhooks (docs/automation.md#chat-slack-and-teams).
-- A hook's address is its credential: sealed like every secret (url_key_id names the key).
-- A shared hook has a name that playbooks post to; a person's own (user_id) also gets
-- their daily digest at digest_hour (UTC).
CREATE TABLE chat_hooks (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    url_key_id  TEXT,
    user_id     INTEGER REFERENCES users(id),
    digest_hour INTEGER,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX chat_hooks_digest ON chat_hooks(digest_hour) WHERE digest_hour IS NOT NULL AND disabled_at IS NULL;

-- A delivery to a chat hook: its payload is laer's message, put in the hook's format
-- when it is sent.
ALTER TABLE deliveries ADD COLUMN chat_hook_id INTEGER REFERENCES chat_hooks(id);
