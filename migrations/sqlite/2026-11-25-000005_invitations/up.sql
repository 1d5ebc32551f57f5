-- Survey leads' work in the browser, and invitations by email.
--
-- Drafts are working copies of a definition and may not be valid yet; a
-- draft becomes a row of survey_versions only when it is published, and is
-- then immutable. Samples list the people invited: each invitee has one
-- invitation token (which carries the ICS and the strata weighting needs)
-- and their email, which is erased after the retention period while the
-- token's strata stay. Every message goes through the outbox, so sending is
-- resumable and a message is never handed to the mail server twice unasked.

ALTER TABLE survey_versions ADD COLUMN closed_at TIMESTAMP;

CREATE TABLE survey_drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- Read from the text when it parses; for listing only.
    survey_id TEXT,
    version_label TEXT,
    source_text TEXT NOT NULL,
    source_name TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    survey_id TEXT NOT NULL,
    source_name TEXT NOT NULL,
    -- SHA-256 of the uploaded file, so importing the same file twice is
    -- recognised; cleared with the emails.
    file_hash TEXT,
    rows_imported INTEGER NOT NULL,
    rows_skipped INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    emails_erased_at TIMESTAMP
);
CREATE INDEX samples_by_survey ON samples (survey_id, id);
CREATE INDEX samples_by_file ON samples (survey_id, file_hash);

CREATE TABLE invitees (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sample_id BIGINT NOT NULL REFERENCES samples (id),
    invitation_id BIGINT NOT NULL UNIQUE REFERENCES invitation_tokens (id),
    survey_id TEXT NOT NULL,
    -- Erased (NULL) after the retention period, with email_key and link_nonce.
    email TEXT,
    -- A keyed hash of the address: finds the same person twice in a survey.
    email_key TEXT,
    -- With the app's secret, rebuilds the link token whose hash the
    -- invitation stores; the token itself is never stored.
    link_nonce TEXT,
    line INTEGER NOT NULL,
    opted_out_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX invitees_once_per_survey ON invitees (survey_id, email_key);
CREATE INDEX invitees_by_sample ON invitees (sample_id);

-- Addresses that asked for no more email about a survey, as the same keyed
-- hash; kept after the emails are erased, so they are never contacted again.
CREATE TABLE opt_outs (
    survey_id TEXT NOT NULL,
    email_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (survey_id, email_key)
);

-- queued → sending (committed before the message goes to the mail server)
-- → sent (the server accepted it) | failed (refused, or too many tries);
-- sending left behind by a stopped process → uncertain, never resent
-- unless a lead asks; cancelled when opted out, answered or closed first.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    invitee_id BIGINT NOT NULL REFERENCES invitees (id),
    survey_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
    -- 0 for the invitation; 1, 2, ... for reminders.
    round INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'uncertain', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TIMESTAMP NOT NULL,
    queued_at TIMESTAMP NOT NULL,
    queued_by TEXT NOT NULL,
    sending_at TIMESTAMP,
    finished_at TIMESTAMP,
    smtp_reply TEXT,
    error TEXT
);
CREATE UNIQUE INDEX outbox_once ON outbox (invitee_id, kind, round);
CREATE INDEX outbox_by_status ON outbox (status, not_before, id);
CREATE INDEX outbox_by_survey ON outbox (survey_id, status);
