DROP INDEX responses_by_created;
CREATE INDEX responses_by_updated ON responses (status, updated_at);
