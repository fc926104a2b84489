-- Version 9: wab24 as the CRM's message provider (Bitrix24 `messageservice`). Each message the
-- CRM sent through a line's provider, by Bitrix24's MESSAGE_ID, with our message once queued:
-- the statuses WhatsApp reports go back to Bitrix24 (`messageservice.message.status.update`).
CREATE TABLE sms_messages (
    b24_message_id TEXT    NOT NULL PRIMARY KEY,
    code           TEXT    NOT NULL,
    line_id        INTEGER NOT NULL REFERENCES lines (id),
    message_id     INTEGER REFERENCES messages (id),
    created_at     INTEGER  NOT NULL
);
CREATE INDEX sms_messages_message ON sms_messages (message_id);
