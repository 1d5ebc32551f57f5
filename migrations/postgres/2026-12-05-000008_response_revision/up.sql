-- Counts the writes to a response. The server caches a respondent's
-- response between pages; a save or submit names the revision it was
-- worked out from and changes nothing if the response has moved on since
-- (another tab, another server process), so a stale copy is never written.
ALTER TABLE responses ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
