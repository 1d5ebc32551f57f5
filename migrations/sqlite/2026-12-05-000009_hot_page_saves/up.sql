-- Every page save rewrites `updated_at`; while it was indexed, each save
-- also rewrote an index entry. Purging finds stale in-progress responses
-- by `created_at`, which is never later than `updated_at`, and checks
-- `updated_at` on the rows it finds.
DROP INDEX responses_by_updated;
CREATE INDEX responses_by_created ON responses (status, created_at);
