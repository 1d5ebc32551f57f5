-- Counts the writes to a response. The server caches a respondent's
-- response between pages; a save or submit names the revision it was
-- worked out from and changes nothing if the response has moved on since
-- (another tab, another server process), so a stale copy is never written.
ALTER TABLE responses ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Every update counts, whatever wrote it: a server from before this
-- column (in a rolling deploy) or a hand-run fix does not bump it itself.
CREATE FUNCTION responses_bump_revision() RETURNS trigger AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER responses_revision BEFORE UPDATE ON responses
    FOR EACH ROW EXECUTE FUNCTION responses_bump_revision();
