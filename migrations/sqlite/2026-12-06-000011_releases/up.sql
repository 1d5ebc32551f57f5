-- Published releases: a survey's results for one closed period (a calendar
-- month), computed once on first request and never changed afterwards, so
-- every download of a release gives the same figures (docs/outputs.md §6).
-- `variant` names what was asked for beyond the period (suppression
-- threshold, trim cap, pooling); `body` is the gzipped JSON of the whole
-- report with its provenance, plus what the server keeps to itself (exact
-- counts, the margin versions used).
CREATE TABLE result_releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    survey_id TEXT NOT NULL,
    period TEXT NOT NULL,
    variant TEXT NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    respondents BIGINT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (survey_id, period, variant)
);
