-- Attempts at rate-limited actions (open-link starts, resume codes), kept
-- in the database so that a limit holds across instances. Rows live one
-- window; `key` is an HMAC of the client address, never the address.
CREATE TABLE rate_limit_hits (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX rate_limit_hits_by_key ON rate_limit_hits (bucket, key, at);
