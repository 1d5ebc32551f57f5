-- Paper questionnaires and letters: the postal survey.
--
-- A response records its mode (answered online, or on paper and keyed by
-- staff) beside its channel (open link or invitation); results carry the
-- mode as a dimension. A later response from a person who already
-- answered is kept but marked as a duplicate of the first, and not counted.
ALTER TABLE responses ADD COLUMN mode TEXT NOT NULL DEFAULT 'online' CHECK (mode IN ('online', 'paper'));
ALTER TABLE responses ADD COLUMN duplicate_of BIGINT REFERENCES responses (id);
ALTER TABLE response_results ADD COLUMN mode TEXT NOT NULL DEFAULT 'online';

-- A sampled person may have a postal address instead of (or as well as) an
-- email address, and says which to use. The address is erased with the
-- email address. The short code (printed on letters and questionnaires,
-- typed at /s, keyed by data entry) is derived from the link seed like the
-- link itself; only its hash is kept.
ALTER TABLE invitees ADD COLUMN address TEXT;
ALTER TABLE invitees ADD COLUMN postcode TEXT;
ALTER TABLE invitees ADD COLUMN preferred_channel TEXT NOT NULL DEFAULT 'email'
    CHECK (preferred_channel IN ('email', 'letter'));
ALTER TABLE invitees ADD COLUMN short_code_hash TEXT;
CREATE UNIQUE INDEX invitees_by_short_code ON invitees (short_code_hash);

-- Letters printed for posting, one per person, kind and round, so a
-- reminder letter follows the same rules as a reminder email.
CREATE TABLE letters (
    id BIGSERIAL PRIMARY KEY,
    invitee_id BIGINT NOT NULL REFERENCES invitees (id),
    survey_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
    round INTEGER NOT NULL,
    printed_at TIMESTAMP NOT NULL,
    printed_by TEXT NOT NULL
);
CREATE UNIQUE INDEX letters_once ON letters (invitee_id, kind, round);
CREATE INDEX letters_by_survey ON letters (survey_id);
