-- A sample is written in batches, so respondents' saves go in between;
-- it takes effect (invitations can be queued) only once complete.
ALTER TABLE samples ADD COLUMN complete BOOLEAN NOT NULL DEFAULT TRUE;
