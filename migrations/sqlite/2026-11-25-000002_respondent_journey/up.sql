-- Invitation tokens and what the respondent journey keeps on a response.

CREATE TABLE invitation_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    survey_id TEXT NOT NULL,
    ics_code TEXT,
    voice TEXT CHECK (voice IN ('patient', 'carer_self', 'carer_on_behalf')),
    language TEXT,
    age_band TEXT,
    sex TEXT,
    imd_quintile INTEGER CHECK (imd_quintile BETWEEN 1 AND 5),
    selection_probability DOUBLE PRECISION CHECK (selection_probability > 0 AND selection_probability <= 1),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);

ALTER TABLE responses ADD COLUMN invitation_id BIGINT REFERENCES invitation_tokens (id);
ALTER TABLE responses ADD COLUMN reference TEXT;
ALTER TABLE responses ADD COLUMN resume_code_hash TEXT;
ALTER TABLE responses ADD COLUMN voice_preset BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE responses ADD COLUMN ics_preset BOOLEAN NOT NULL DEFAULT FALSE;
-- One response per invitation, however many tabs start it.
CREATE UNIQUE INDEX responses_by_invitation ON responses (invitation_id);
CREATE UNIQUE INDEX responses_by_reference ON responses (reference);
CREATE UNIQUE INDEX responses_by_resume_code ON responses (resume_code_hash);
