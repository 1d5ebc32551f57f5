DROP TRIGGER responses_revision;
ALTER TABLE responses DROP COLUMN revision;
