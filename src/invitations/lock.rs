//! One sender at a time per database. Whoever holds the lock may treat any
//! outbox row still marked `sending` as abandoned, because the only process
//! that could own it is gone. The lock dies with its process, however it
//! dies (a SIGKILL included): on PostgreSQL it is a session advisory lock,
//! released when the connection closes; on SQLite an OS file lock beside
//! the database file, released when the file is closed.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool};

use crate::storage::{DatabaseUrl, Db, DbConn, PooledConn, StorageError};

/// Arbitrary but fixed, and different from the migration lock.
const SENDER_LOCK: i64 = 0x6a6f_696e_6564_6d61;

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

enum Held {
    File(#[allow(dead_code)] File),
    Postgres(Box<PooledConn>),
}

/// Held while sending; released on drop.
pub struct SenderLock {
    held: Option<Held>,
}

impl std::fmt::Debug for SenderLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SenderLock")
    }
}

/// The lock file for a SQLite database: `<file>.sending.lock`.
pub fn lock_path(database: &std::path::Path) -> PathBuf {
    let mut name = database.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".sending.lock");
    database.with_file_name(name)
}

/// Takes the lock if no other process (or task) holds it. Blocking: call
/// it off the async threads.
pub fn try_acquire(db: &Db) -> Result<Option<SenderLock>, StorageError> {
    match db.url() {
        DatabaseUrl::Sqlite(path) => {
            let path = lock_path(path);
            let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| {
                StorageError::Pool(format!("cannot open the sending lock file {}: {e}", path.display()))
            })?;
            match file.try_lock() {
                Ok(()) => Ok(Some(SenderLock { held: Some(Held::File(file)) })),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(e)) => {
                    Err(StorageError::Pool(format!("cannot lock the sending lock file {}: {e}", path.display())))
                }
            }
        }
        DatabaseUrl::Postgres(_) => {
            let mut conn = db.get()?;
            let locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind::<BigInt, _>(SENDER_LOCK)
                .get_result::<Locked>(&mut **conn)?
                .locked;
            Ok(locked.then_some(SenderLock { held: Some(Held::Postgres(Box::new(conn))) }))
        }
    }
}

impl Drop for SenderLock {
    fn drop(&mut self) {
        if let Some(Held::Postgres(mut conn)) = self.held.take() {
            let conn: &mut DbConn = &mut conn;
            let released = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
                .bind::<BigInt, _>(SENDER_LOCK)
                .get_result::<Locked>(conn);
            if !matches!(released, Ok(Locked { locked: true })) {
                // A connection still holding the lock must not go back to
                // the pool: closing it is what releases the lock.
                tracing::warn!("could not release the sending lock; closing its connection");
                let _ = r2d2_close(conn);
            }
        }
    }
}

/// Ends the database session, so PostgreSQL drops its locks.
fn r2d2_close(conn: &mut DbConn) -> Result<(), StorageError> {
    diesel::sql_query("SELECT pg_terminate_backend(pg_backend_pid())").execute(conn)?;
    Ok(())
}
