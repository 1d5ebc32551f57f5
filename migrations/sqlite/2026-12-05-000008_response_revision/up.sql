-- Counts the writes to a response. The server caches a respondent's
-- response between pages; a save or submit names the revision it was
-- worked out from and changes nothing if the response has moved on since
-- (another tab, another server process), so a stale copy is never written.
ALTER TABLE responses ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Every update counts, whatever wrote it: a server from before this
-- column or a hand-run fix does not bump it itself.
CREATE TRIGGER responses_revision AFTER UPDATE ON responses
    FOR EACH ROW WHEN NEW.revision = OLD.revision
BEGIN
    UPDATE responses SET revision = OLD.revision + 1 WHERE id = NEW.id;
END;
