DROP INDEX responses_by_resume_code;
DROP INDEX responses_by_reference;
DROP INDEX responses_by_invitation;
ALTER TABLE responses DROP COLUMN ics_preset;
ALTER TABLE responses DROP COLUMN voice_preset;
ALTER TABLE responses DROP COLUMN resume_code_hash;
ALTER TABLE responses DROP COLUMN reference;
ALTER TABLE responses DROP COLUMN invitation_id;
DROP TABLE invitation_tokens;
