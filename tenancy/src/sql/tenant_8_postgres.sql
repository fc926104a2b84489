-- Version 8: access by the portal's people and departments. The portal's users and departments
-- as user.get / department.get last said (cached with the time of reading), the administrator's
-- limit on who may use the app, lines assigned to a department, and the person responsible for
-- each conversation.

-- Whether the portal says the user is active (a fired or deactivated user is 0), their avatar
-- (PERSONAL_PHOTO, a URL) and when the portal last confirmed them (Unix ms; NULL: never read
-- with user.get).
ALTER TABLE users ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN avatar TEXT;
ALTER TABLE users ADD COLUMN synced_at BIGINT;

-- The portal's departments (department.get).
CREATE TABLE departments (
    id        BIGINT PRIMARY KEY,             -- the Bitrix24 department id
    name      TEXT    NOT NULL,
    parent_id BIGINT,
    head_user BIGINT,
    synced_at BIGINT NOT NULL
);

-- Which departments a user reaches: those they are in (direct = 1, UF_DEPARTMENT) and every
-- department above them (direct = 0). A line assigned to department D is seen by the users
-- whose reach holds D: the members of D and of the departments below it.
CREATE TABLE user_departments (
    user_id       BIGINT NOT NULL,
    department_id BIGINT NOT NULL,
    direct        BIGINT NOT NULL,
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX user_departments_department ON user_departments (department_id, user_id);

-- Who may use the app at all, set by an administrator: users ('user', a user id) and departments
-- ('department', a department id, with the departments below it). No row: everyone.
-- Administrators are always allowed.
CREATE TABLE app_access (
    kind       TEXT    NOT NULL,
    subject_id BIGINT NOT NULL,
    PRIMARY KEY (kind, subject_id)
);

-- The department a line is assigned to (besides or instead of a user), and how the person
-- responsible for a conversation is chosen: 'first_to_answer' or 'evenly'.
ALTER TABLE lines ADD COLUMN assigned_department BIGINT;
ALTER TABLE lines ADD COLUMN responsible_mode TEXT NOT NULL DEFAULT 'first_to_answer';
-- 'evenly': the user chosen last on this line (the next one goes to the following member).
ALTER TABLE lines ADD COLUMN responsible_last BIGINT;

-- The person responsible for a conversation (the CRM's responsible), chosen once.
ALTER TABLE conversations ADD COLUMN responsible_user BIGINT;
