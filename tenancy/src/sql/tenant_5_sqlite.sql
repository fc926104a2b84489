-- Version 5: Bitrix24 Open Channels. Where each line's conversations go, which Open Line it feeds,
-- the links between our messages and Bitrix24's, a durable outbox towards Bitrix24, and the
-- connector events already handled (exactly once both ways).

-- 'panel' (our chat panel only), 'openline' (the Open Line only) or 'both'.
ALTER TABLE lines ADD COLUMN open_channel TEXT NOT NULL DEFAULT 'panel';
-- The Bitrix24 Open Line (imopenlines config id) the line feeds; NULL when none is chosen.
ALTER TABLE lines ADD COLUMN open_line_id INTEGER;
-- What Bitrix24 was last told about the connector on this line: 'off', 'active' or 'error'.
ALTER TABLE lines ADD COLUMN open_channel_status TEXT NOT NULL DEFAULT 'off';
-- Whether an operator's name signature ('[b]Name:[/b] [br]' that Bitrix24 prefixes) reaches the
-- customer: 1 (the default) or 0.
ALTER TABLE lines ADD COLUMN open_channel_signature INTEGER NOT NULL DEFAULT 1;
CREATE INDEX lines_open_line ON lines (open_line_id);

-- One of our messages and where it is in Bitrix24: the Open Lines chat and session it went to,
-- and the Bitrix24 message id when Bitrix24 gave one (an operator's message carries it;
-- imconnector.send.messages answers with the chat and session only).
CREATE TABLE b24_message_links (
    message_id       INTEGER PRIMARY KEY REFERENCES messages (id),
    line_id          INTEGER NOT NULL REFERENCES lines (id),
    b24_message_id   TEXT,
    b24_chat_id      INTEGER,
    external_chat_id TEXT    NOT NULL,
    session_id       INTEGER,
    created_at       INTEGER NOT NULL,
    UNIQUE (line_id, b24_message_id)
);

-- Calls towards Bitrix24 that must happen once (messages, edits, deletes, statuses, connector
-- state), retried with backoff until done; written in the transaction of the change they carry.
CREATE TABLE b24_outbox (
    id              INTEGER PRIMARY KEY,
    line_id         INTEGER NOT NULL REFERENCES lines (id),
    message_id      INTEGER REFERENCES messages (id),
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX b24_outbox_due ON b24_outbox (state, next_attempt_at, id);
CREATE INDEX b24_outbox_line ON b24_outbox (line_id, state, id);

-- Connector events from Bitrix24 already handled, by line, Bitrix24 message id and action.
CREATE TABLE b24_events_seen (
    line_id        INTEGER NOT NULL REFERENCES lines (id),
    b24_message_id TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    seen_at        INTEGER NOT NULL,
    PRIMARY KEY (line_id, b24_message_id, action)
);

-- WhatsApp edits and revokes already applied to a stored message, by the id they came under
-- (an amendment delivered again changes nothing, even after a later one).
CREATE TABLE wa_amendments (
    line_id    INTEGER  NOT NULL REFERENCES lines (id),
    wa_id      TEXT    NOT NULL,
    message_id INTEGER  NOT NULL REFERENCES messages (id),
    kind       TEXT    NOT NULL,
    at         INTEGER  NOT NULL,
    PRIMARY KEY (line_id, wa_id)
);
