-- Tracking keys are for usage only (issue 15).
--
-- A messageId is unique per write key, not across keys: the log's key becomes
-- (write_key_id, message_id), so that one key's messageId can no longer drop another
-- key's call.
ALTER TABLE ingest_messages DROP CONSTRAINT ingest_messages_pkey;
ALTER TABLE ingest_messages ADD PRIMARY KEY (write_key_id, message_id);

-- What tracking calls last wrote to a field of an account ('account', its external id,
-- 'name' or 'attributes.KEY') or a product user ('product_user', its external id, 'email',
-- 'name', 'department', 'created_at'). A field whose value is still the one tracking
-- wrote is tracking's to change; any other value came from an import, a connector or the
-- app, and tracking may only fill in blanks (laer_core::tracking).
CREATE TABLE tracking_values (
    record_kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (record_kind, external_id, field)
);
