DROP INDEX responses_by_invitation;
DELETE FROM answers WHERE response_id IN (SELECT id FROM responses WHERE duplicate_of IS NOT NULL);
DELETE FROM responses WHERE duplicate_of IS NOT NULL;
CREATE UNIQUE INDEX responses_by_invitation ON responses (invitation_id);
ALTER TABLE responses DROP COLUMN keyed_by;
ALTER TABLE answers DROP COLUMN off_route;
DELETE FROM user_roles WHERE role = 'data_entry';
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection'));
