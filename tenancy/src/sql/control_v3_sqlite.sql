-- Control migration 3 (SQLite): installation generations, soft deletion and session revocation.
-- generation: bumped by every install and uninstall; session tokens carry it.
-- purge_after: a CLEAN uninstall's data is purged after this moment (Unix ms) unless reinstalled.
ALTER TABLE tenants ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN purge_after INTEGER;
-- Per user of a tenant: session tokens issued at or before not_before (Unix seconds) are refused.
CREATE TABLE session_revocations (
    member_id  TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    PRIMARY KEY (member_id, user_id)
);
