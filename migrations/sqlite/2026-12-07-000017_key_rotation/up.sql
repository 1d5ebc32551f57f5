-- Rotating JOINEDUP_SECRET_KEY re-keys each invitation's link; the link
-- already sent keeps working through its previous hash until retired.
ALTER TABLE invitation_tokens ADD COLUMN previous_token_hash TEXT;
CREATE INDEX invitation_tokens_previous_token_hash ON invitation_tokens (previous_token_hash);
