-- Tenant migration 3: messages say why they were not stored as they came; the outbox is read per
-- line and remembers what each idempotency key was used for.

-- Why a message differs from what arrived (truncated text, missing media, a placeholder, a
-- security code change); NULL for a message stored as it came.
ALTER TABLE messages ADD COLUMN note TEXT;

-- SHA-256 (hex) of the request an idempotency key was first used with; NULL for rows written
-- before this migration (those keys are not checked).
ALTER TABLE outbox ADD COLUMN request_hash TEXT;

-- Each line's sender reads its own pending items, oldest first.
CREATE INDEX outbox_line_pending ON outbox (line_id, kind, state, id);
