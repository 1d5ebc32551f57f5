-- What a submitted response counts as, written in the same transaction as
-- the submission: its groups and scores, so results never re-read every
-- answer row. Rebuilt by `joinedup rescore` when scoring is corrected.
CREATE TABLE response_results (
    response_id BIGINT PRIMARY KEY NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    survey_version_id BIGINT NOT NULL REFERENCES survey_versions (id),
    survey_id TEXT NOT NULL,
    scoring_signature TEXT NOT NULL,
    submitted_on DATE NOT NULL,
    channel TEXT NOT NULL,
    voice TEXT,
    ics_code TEXT,
    age_band TEXT,
    sex TEXT,
    ethnicity TEXT,
    long_term_condition TEXT,
    imd_quintile INTEGER,
    base_weight DOUBLE PRECISION NOT NULL,
    index_score DOUBLE PRECISION,
    -- Domain scores in the definition's domain order, comma-separated, empty = none.
    domain_scores TEXT NOT NULL,
    -- Chosen option per choice question and Likert item, in definition order.
    choices TEXT NOT NULL
);
CREATE INDEX response_results_by_survey ON response_results (survey_id, submitted_on);

-- A record of every re-scoring of stored results.
CREATE TABLE scoring_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    survey_id TEXT NOT NULL,
    responses INTEGER NOT NULL,
    signatures TEXT NOT NULL,
    run_at TIMESTAMP NOT NULL
);
