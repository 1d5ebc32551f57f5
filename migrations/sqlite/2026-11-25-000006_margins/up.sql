-- Population margins analysts upload for raking beyond the bundled ONS age
-- band x sex figures: ethnicity and deprivation for the people's index, or
-- carer margins. Each upload is a new, immutable version for its group;
-- the newest version not retired is the one used, and every output names
-- it. The file is kept as uploaded, so any past output can be explained.
CREATE TABLE margin_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    population_group TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    csv_text TEXT NOT NULL,
    -- The dimensions the file holds, comma-separated, for listing.
    dimensions TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    UNIQUE (population_group, version)
);
