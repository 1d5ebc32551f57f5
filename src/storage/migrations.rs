//! Embedded migrations, one folder per backend because identity columns and
//! table clustering differ. PostgreSQL migrations run under an advisory lock
//! so several instances can start at once.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConn, StorageError, write_transaction};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary but fixed: every joinedup instance takes the same lock.
const MIGRATION_LOCK: i64 = 0x6a6f_696e_6564_7570;

fn migrations_for(conn: &DbConn) -> EmbeddedMigrations {
    match conn {
        DbConn::Sqlite(_) => SQLITE,
        DbConn::Postgres(_) => POSTGRES,
    }
}

/// Applies pending migrations; returns the versions applied. Concurrent
/// callers wait for each other: PostgreSQL through an advisory lock, SQLite
/// through one write transaction around the whole run.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, StorageError> {
    let migrations = migrations_for(conn);
    let run = |conn: &mut DbConn| {
        conn.run_pending_migrations(migrations)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StorageError::Migration(e.to_string()))
    };
    match conn {
        DbConn::Sqlite(_) => write_transaction(conn, run),
        DbConn::Postgres(_) => {
            diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK).execute(conn)?;
            let result = run(conn);
            diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(MIGRATION_LOCK).execute(conn)?;
            result
        }
    }
}

/// The newest applied migration, if any.
pub fn current_version(conn: &mut DbConn) -> Result<Option<String>, StorageError> {
    let applied = conn.applied_migrations().map_err(|e| StorageError::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).max())
}

/// How many embedded migrations the database has not had yet.
pub fn pending_count(conn: &mut DbConn) -> Result<usize, StorageError> {
    let migrations = migrations_for(conn);
    conn.pending_migrations(migrations).map(|p| p.len()).map_err(|e| StorageError::Migration(e.to_string()))
}
