-- The tenants registry (PostgreSQL: the control schema).
CREATE TABLE tenants (
    member_id     TEXT    PRIMARY KEY,
    domain        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    line_quota    BIGINT NOT NULL,
    trial_ends_at BIGINT,
    tokens        BYTEA,
    storage       TEXT    NOT NULL,
    installed_at  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
