//! Online backups. SQLite: `VACUUM INTO` writes a consistent copy of the
//! database as of one read transaction while the server goes on reading
//! (WAL). Writers wait during the copy: a second connection holds the
//! write lock from before the copy starts until it ends, so every write
//! acknowledged before the backup finished is in it (a write is
//! acknowledged only once committed, and none commits meanwhile; the
//! server's writers wait up to their busy timeout, 10 s). PostgreSQL:
//! `pg_dump` (custom format), which reads one snapshot. Restoring checks
//! the copy before putting it in place.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::RunQueryDsl;

use super::{DatabaseUrl, StorageError};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    /// Every write acknowledged before this moment is in the copy: on
    /// SQLite the moment the copy was complete with writers still held.
    pub consistent_at: chrono::DateTime<chrono::Utc>,
}

/// Writes a consistent copy of the database at `url` to `out` (which
/// must not exist).
pub fn backup(url: &DatabaseUrl, out: &Path) -> Result<Written, StorageError> {
    if out.exists() {
        return Err(StorageError::Conflict(format!(
            "{} exists already: a backup never overwrites a file",
            out.display()
        )));
    }
    let consistent_at = match url {
        DatabaseUrl::Sqlite(_) => {
            use diesel::connection::SimpleConnection;
            use diesel::r2d2::ManageConnection;
            let target = out.to_str().ok_or_else(|| StorageError::BadUrl(format!("{} is not UTF-8", out.display())))?;
            let manager = super::Manager::new(url.clone());
            let connect = || {
                manager.connect().map_err(|e| StorageError::Unreachable { url: url.to_string(), reason: e.to_string() })
            };
            let (mut lock, mut copy) = (connect()?, connect()?);
            lock.batch_execute("BEGIN IMMEDIATE")?;
            let copied =
                diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(target).execute(&mut *copy);
            let consistent_at = chrono::Utc::now();
            lock.batch_execute("ROLLBACK")?;
            copied?;
            consistent_at
        }
        DatabaseUrl::Postgres(server) => {
            // pg_dump's snapshot is taken as it starts.
            let started = chrono::Utc::now();
            let status = Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(out)
                .arg(server)
                .status()
                .map_err(|e| StorageError::Pool(format!("cannot run pg_dump (install postgresql-client): {e}")))?;
            if !status.success() {
                return Err(StorageError::Pool(format!("pg_dump failed ({status}); nothing usable was written")));
            }
            started
        }
    };
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(Written { path: out.to_path_buf(), bytes, consistent_at })
}

/// Checks a SQLite backup: SQLite's own integrity check, and joinedup's
/// tables in it (its migrations table). Returns how many migrations it has.
pub fn check_sqlite_copy(copy: &Path) -> Result<usize, StorageError> {
    use diesel::Connection;
    let url = copy.to_str().ok_or_else(|| StorageError::BadUrl(format!("{} is not UTF-8", copy.display())))?;
    if !copy.is_file() {
        return Err(StorageError::BadUrl(format!("{} is not a file", copy.display())));
    }
    let mut conn = diesel::SqliteConnection::establish(url)
        .map_err(|e| StorageError::Unreachable { url: url.to_string(), reason: e.to_string() })?;
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    if lines.len() != 1 || lines[0].integrity_check != "ok" {
        let found: Vec<String> = lines.into_iter().map(|l| l.integrity_check).take(5).collect();
        return Err(StorageError::Migration(format!(
            "{} fails SQLite's integrity check: {}",
            copy.display(),
            found.join("; ")
        )));
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let migrations: Vec<Count> =
        diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations").load(&mut conn).map_err(|_| {
            StorageError::Migration(format!("{} is not a joinedup database (no migrations table)", copy.display()))
        })?;
    Ok(migrations.first().map_or(0, |c| c.n as usize))
}

/// Restores a backup into `url`. SQLite: the checked copy replaces the
/// database file (the old one is kept beside it, renamed), so stop the
/// server first. PostgreSQL: `pg_restore --clean` into the database.
pub fn restore(url: &DatabaseUrl, from: &Path) -> Result<Option<PathBuf>, StorageError> {
    match url {
        DatabaseUrl::Sqlite(target) => {
            check_sqlite_copy(from)?;
            let staged = target.with_extension("restoring");
            std::fs::copy(from, &staged)
                .map_err(|e| StorageError::Pool(format!("cannot copy {}: {e}", from.display())))?;
            let kept = if target.exists() {
                let aside =
                    target.with_extension(format!("before-restore-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
                std::fs::rename(target, &aside)
                    .map_err(|e| StorageError::Pool(format!("cannot move the old database aside: {e}")))?;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", target.display()));
                    if side.exists() {
                        let _ = std::fs::rename(&side, PathBuf::from(format!("{}{suffix}", aside.display())));
                    }
                }
                Some(aside)
            } else {
                None
            };
            std::fs::rename(&staged, target)
                .map_err(|e| StorageError::Pool(format!("cannot put the copy in place: {e}")))?;
            Ok(kept)
        }
        DatabaseUrl::Postgres(server) => {
            let status = Command::new("pg_restore")
                .args(["--clean", "--if-exists", "--no-owner", "--exit-on-error", "--dbname"])
                .arg(server)
                .arg(from)
                .status()
                .map_err(|e| StorageError::Pool(format!("cannot run pg_restore (install postgresql-client): {e}")))?;
            if !status.success() {
                return Err(StorageError::Pool(format!("pg_restore failed ({status})")));
            }
            Ok(None)
        }
    }
}
