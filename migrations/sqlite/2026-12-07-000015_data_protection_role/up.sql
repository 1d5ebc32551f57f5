-- The data_protection role (finding and withdrawing a response by its
-- reference). SQLite cannot change a CHECK constraint, so the table is
-- rebuilt with the longer list.
CREATE TABLE user_roles_next (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection')),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_next (user_id, role, granted_at) SELECT user_id, role, granted_at FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_next RENAME TO user_roles;
