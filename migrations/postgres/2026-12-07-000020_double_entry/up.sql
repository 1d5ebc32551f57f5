-- Double entry of returned paper questionnaires: a sample may ask for
-- every returned form to be keyed twice, by two different keyers, blind.
-- Each keying is kept here until the two agree or their differences are
-- resolved; then the form is saved as a response, each keying's answers
-- are cleared (the response holds them), and how many fields each keyer
-- got wrong against the settled form is kept for the error rate.
ALTER TABLE samples ADD COLUMN double_entry BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE keying_passes (
    invitee_id BIGINT NOT NULL REFERENCES invitees (id) ON DELETE CASCADE,
    pass INTEGER NOT NULL CHECK (pass IN (1, 2)),
    keyed_by BIGINT NOT NULL REFERENCES users (id),
    voice TEXT NOT NULL,
    -- JSON object, answer id -> stored value; '{}' once settled.
    answers TEXT NOT NULL,
    keyed_at TIMESTAMP NOT NULL,
    settled_at TIMESTAMP,
    fields_compared INTEGER,
    fields_wrong INTEGER,
    PRIMARY KEY (invitee_id, pass),
    CHECK ((settled_at IS NULL) = (fields_compared IS NULL) AND (settled_at IS NULL) = (fields_wrong IS NULL))
);
CREATE INDEX keying_passes_by_keyer ON keying_passes (keyed_by);

-- A returned form is keyed once: one paper response per invitation,
-- counted or duplicate.
CREATE UNIQUE INDEX responses_one_paper_per_invitation ON responses (invitation_id) WHERE mode = 'paper';

-- A code printed on a letter before a key rotation keeps working, as the
-- link beside it does, until the old links are retired.
ALTER TABLE invitees ADD COLUMN previous_short_code_hash TEXT;
CREATE INDEX invitees_previous_short_code_hash ON invitees (previous_short_code_hash);
