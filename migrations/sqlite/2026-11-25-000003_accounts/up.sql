-- Staff accounts (admins, survey leads, analysts), their roles, sessions,
-- failed sign-ins, personal API tokens, and the audit log. Respondents
-- never have accounts. Secrets are stored only as hashes: argon2id for
-- passwords, SHA-256 for session ids and API tokens (random 256-bit values,
-- so a fast hash is enough), an HMAC of the email for sign-in failures.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'survey_lead', 'analyst')),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- The cookie holds the session id; only its hash is kept here, so sign-out
-- and disabling a user end a session at once on every instance.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    client_ip TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Counted per account and per client address, so the limit holds across
-- instances. account_key is an HMAC of the typed email: rows exist for
-- emails that have no account, and a password typed into the email box is
-- never stored.
CREATE TABLE failed_sign_ins (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    account_key TEXT NOT NULL,
    client_ip TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX failed_sign_ins_by_account ON failed_sign_ins (account_key, at);
CREATE INDEX failed_sign_ins_by_address ON failed_sign_ins (client_ip, at);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    created_by BIGINT REFERENCES users (id),
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- Who did what, when, from where. Never passwords, tokens or answers.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_user_id BIGINT REFERENCES users (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    client_ip TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_action ON audit_log (action, at);
