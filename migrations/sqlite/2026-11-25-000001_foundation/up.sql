-- Foundation schema (SQLite). The PostgreSQL twin differs only in identity
-- columns and in clustering answers by (response_id, question_id).

CREATE TABLE app_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Integrated care systems, dated because boundaries change.
CREATE TABLE icss (
    ons_code TEXT NOT NULL,
    valid_from DATE NOT NULL,
    ods_code TEXT NOT NULL,
    name TEXT NOT NULL,
    nhs_region TEXT NOT NULL,
    region_code TEXT NOT NULL,
    valid_to DATE,
    PRIMARY KEY (ons_code, valid_from)
);
CREATE INDEX icss_by_ods_code ON icss (ods_code);

CREATE TABLE survey_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    survey_id TEXT NOT NULL,
    version_label TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source_text TEXT NOT NULL,
    source_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'closed')),
    opens_on DATE,
    closes_on DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    UNIQUE (survey_id, version_label)
);

CREATE TABLE responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    survey_version_id BIGINT NOT NULL REFERENCES survey_versions (id),
    channel TEXT NOT NULL CHECK (channel IN ('open_link', 'invitation')),
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'submitted')),
    voice TEXT CHECK (voice IN ('patient', 'carer_self', 'carer_on_behalf')),
    language TEXT NOT NULL,
    ics_code TEXT,
    resume_token_hash TEXT UNIQUE,
    resume_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    submitted_at TIMESTAMP
);
-- Weighting reads "every submitted response of version X" in id order.
CREATE INDEX responses_by_version_status ON responses (survey_version_id, status, id);
CREATE INDEX responses_by_updated ON responses (status, updated_at);

-- Clustered by response, so a response's answers are one contiguous range.
CREATE TABLE answers (
    response_id BIGINT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    value TEXT NOT NULL,
    answered_at TIMESTAMP NOT NULL,
    PRIMARY KEY (response_id, question_id)
) WITHOUT ROWID;
