DROP TABLE outbox;
DROP TABLE opt_outs;
DROP TABLE invitees;
DROP TABLE samples;
DROP TABLE survey_drafts;
ALTER TABLE survey_versions DROP COLUMN closed_at;
