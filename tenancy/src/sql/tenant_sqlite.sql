-- One tenant's data (SQLite: data/tenants/<member_id>.db).
CREATE TABLE settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    line_quota INTEGER NOT NULL
);
INSERT INTO settings (id, line_quota) VALUES (1, 0);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,           -- the Bitrix24 user id
    name       TEXT    NOT NULL,
    is_admin   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE lines (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    phone         TEXT,
    status        TEXT    NOT NULL,
    assigned_user INTEGER REFERENCES users (id),
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE INDEX lines_assigned ON lines (assigned_user);

-- The line's WhatsApp device store: namespaced key-value pairs, values sealed with the tenant key
-- (AES-256-GCM, bound to line, namespace and key). The wa-session store traits map onto it.
CREATE TABLE device_store (
    line_id    INTEGER NOT NULL REFERENCES lines (id),
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (line_id, namespace, key)
);

CREATE TABLE contacts (
    id         INTEGER PRIMARY KEY,
    line_id    INTEGER NOT NULL REFERENCES lines (id),
    jid        TEXT    NOT NULL,
    phone      TEXT,
    push_name  TEXT,
    updated_at INTEGER NOT NULL,
    UNIQUE (line_id, jid)
);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    line_id         INTEGER NOT NULL REFERENCES lines (id),
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    unread          INTEGER NOT NULL,
    last_message_id INTEGER,
    last_message_at INTEGER,
    UNIQUE (line_id, contact_id)
);
CREATE INDEX conversations_recent ON conversations (line_id, last_message_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    line_id         INTEGER NOT NULL REFERENCES lines (id),
    wa_id           TEXT,
    direction       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    body            TEXT,
    media_path      TEXT,
    media_mime      TEXT,
    media_size      INTEGER,
    media_sha256    BLOB,
    quoted_id       INTEGER REFERENCES messages (id),
    status          INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    read_at         INTEGER,
    sender          TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    UNIQUE (line_id, wa_id)
);
CREATE INDEX messages_history ON messages (conversation_id, id);

-- Pending sends (to WhatsApp) and deliveries (to Bitrix24), deduplicated by idempotency key.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    line_id         INTEGER NOT NULL REFERENCES lines (id),
    message_id      INTEGER REFERENCES messages (id),
    kind            TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (state, id);
