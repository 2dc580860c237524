-- Webhook secrets sealed with the server key (docs/operations.md#secrets-at-rest):
-- `secret` holds the sealed value and `secret_key_id` the id of the key that sealed it.
-- A migration cannot encrypt, so the secrets of webhooks added before keep a NULL key
-- id, which marks them as plaintext, until a server seals them when it starts
-- (`Store::prepare_secrets`, once per row whichever node gets there first).
ALTER TABLE webhooks ADD COLUMN secret_key_id TEXT;
