-- Data entry of returned paper questionnaires.
--
-- A keyed answer to a question the respondent's own answers say to skip
-- is kept as given and flagged off_route: it is never scored. Who keyed a
-- response is kept for the keying error rate per keyer.
ALTER TABLE answers ADD COLUMN off_route BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE responses ADD COLUMN keyed_by BIGINT REFERENCES users (id);

-- One counted response per invitation; later ones from the same person
-- (a paper form after an online answer) are kept as duplicates.
DROP INDEX responses_by_invitation;
CREATE UNIQUE INDEX responses_by_invitation ON responses (invitation_id) WHERE duplicate_of IS NULL;

-- The data_entry role. SQLite cannot change a CHECK constraint, so the
-- table is rebuilt with the longer list.
CREATE TABLE user_roles_next (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection', 'data_entry')),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_next (user_id, role, granted_at) SELECT user_id, role, granted_at FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_next RENAME TO user_roles;
