-- Every page save rewrites `updated_at`. While that column was indexed,
-- each save wrote a new entry into every index of the table; unindexed, a
-- save is a heap-only (HOT) update that touches no index. Purging finds
-- stale in-progress responses by `created_at`, which is never later than
-- `updated_at`, and checks `updated_at` on the rows it finds.
DROP INDEX responses_by_updated;
CREATE INDEX responses_by_created ON responses (status, created_at);

-- Room on each page for a response's next version, which a HOT update
-- must find on the same page.
ALTER TABLE responses SET (fillfactor = 80);
