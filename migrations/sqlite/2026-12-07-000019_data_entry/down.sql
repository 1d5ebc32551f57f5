DROP INDEX responses_by_invitation;
DELETE FROM answers WHERE response_id IN (SELECT id FROM responses WHERE duplicate_of IS NOT NULL);
DELETE FROM responses WHERE duplicate_of IS NOT NULL;
CREATE UNIQUE INDEX responses_by_invitation ON responses (invitation_id);
ALTER TABLE responses DROP COLUMN keyed_by;
ALTER TABLE answers DROP COLUMN off_route;
CREATE TABLE user_roles_next (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection')),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_next (user_id, role, granted_at)
    SELECT user_id, role, granted_at FROM user_roles WHERE role <> 'data_entry';
DROP TABLE user_roles;
ALTER TABLE user_roles_next RENAME TO user_roles;
