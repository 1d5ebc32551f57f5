DROP INDEX invitees_previous_short_code_hash;
ALTER TABLE invitees DROP COLUMN previous_short_code_hash;
DROP INDEX responses_one_paper_per_invitation;
DROP TABLE keying_passes;
ALTER TABLE samples DROP COLUMN double_entry;
