-- Version 4: per-line settings. Whether opening a chat sends read receipts (blue ticks) to
-- WhatsApp; on unless an administrator turns it off.
ALTER TABLE lines ADD COLUMN send_read_receipts BIGINT NOT NULL DEFAULT 1;
