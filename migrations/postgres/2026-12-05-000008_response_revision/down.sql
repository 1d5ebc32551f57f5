DROP TRIGGER responses_revision ON responses;
DROP FUNCTION responses_bump_revision();
ALTER TABLE responses DROP COLUMN revision;
