DELETE FROM user_roles WHERE role = 'data_protection';
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher'));
