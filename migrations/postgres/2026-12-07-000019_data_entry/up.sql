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

-- The data_entry role.
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'survey_lead', 'analyst', 'researcher', 'data_protection', 'data_entry'));
