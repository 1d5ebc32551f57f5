DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE failed_sign_ins;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE users;
