-- The tenants registry (SQLite: data/control.db).
CREATE TABLE tenants (
    member_id     TEXT    PRIMARY KEY,
    domain        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    line_quota    INTEGER NOT NULL,
    trial_ends_at INTEGER,
    tokens        BLOB,
    storage       TEXT    NOT NULL,
    installed_at  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
