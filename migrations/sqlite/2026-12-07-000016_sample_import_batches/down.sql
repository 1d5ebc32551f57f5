ALTER TABLE samples DROP COLUMN complete;
