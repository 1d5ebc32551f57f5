CREATE TABLE user_roles_next (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher')),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_next (user_id, role, granted_at)
    SELECT user_id, role, granted_at FROM user_roles WHERE role <> 'data_protection';
DROP TABLE user_roles;
ALTER TABLE user_roles_next RENAME TO user_roles;
