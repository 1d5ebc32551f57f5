DROP INDEX responses_one_paper_per_invitation;
DROP TABLE keying_passes;
ALTER TABLE samples DROP COLUMN double_entry;
