-- The data_protection role (finding and withdrawing a response by its reference).
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection'));
