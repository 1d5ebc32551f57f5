//! Storage: one diesel query layer over SQLite (embedded default) and
//! PostgreSQL (production). Queries are written once against `DbConn`;
//! only upserts go through `per_backend!`.

pub mod accounts;
pub mod app_settings;
pub mod audit;
pub mod backup;
mod connection;
pub mod drafts;
mod group_commit;
pub mod icss;
pub mod invitations;
pub mod key_rotation;
pub mod keying;
pub mod letters;
pub mod margins;
pub mod migrations;
pub mod move_to_postgres;
pub mod outbox;
pub mod rate_limits;
pub mod releases;
pub mod replica;
pub mod responses;
mod responses_pg;
pub mod results;
pub mod samples;
pub mod schema;
mod stored_as_text;
pub mod survey_stats;
pub mod surveys;

pub use connection::{
    Backend, ConnectError, DatabaseUrl, Db, DbConn, DbStats, Manager, Pool, PoolState, PooledConn, write_transaction,
};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    BadUrl(String),
    #[error("cannot connect to the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("cannot get a database connection: {0}")]
    Pool(String),
    #[error("the database migration failed: {0}")]
    Migration(String),
    #[error(
        "survey `{survey}` version `{version}` in {file} is not the same as the published version already stored \
         (content hash {stored} in the database, {found} in the file); a published version never changes, so give \
         the edited file a new `version`"
    )]
    ChangedVersion { survey: String, version: String, file: String, stored: String, found: String },
    #[error("the stored survey `{survey}` version `{version}` no longer passes validation: {problem}")]
    InvalidStored { survey: String, version: String, problem: String },
    /// Two processes changed the same thing at once; the message says what
    /// to do.
    #[error("{0}")]
    Conflict(String),
    /// `joinedup move` stopped at a table: which, and why.
    #[error("moving table `{table}`: {reason}")]
    Moving { table: String, reason: String },
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// The current time in UTC, as every timestamp column stores it.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
