DROP TABLE letters;
DROP INDEX invitees_by_short_code;
ALTER TABLE invitees DROP COLUMN short_code_hash;
ALTER TABLE invitees DROP COLUMN preferred_channel;
ALTER TABLE invitees DROP COLUMN postcode;
ALTER TABLE invitees DROP COLUMN address;
ALTER TABLE response_results DROP COLUMN mode;
ALTER TABLE responses DROP COLUMN duplicate_of;
ALTER TABLE responses DROP COLUMN mode;
