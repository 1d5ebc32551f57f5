//! SQLite writes committed in groups by one thread.
//!
//! SQLite has one writer at a time, and every commit costs a write to the
//! log and, with `synchronous = FULL`, an fsync. So one thread owns the
//! write connection: it takes every write waiting in the queue, runs each
//! in its own savepoint (a failing write undoes only itself), commits them
//! together, and only then answers each caller. A write is acknowledged
//! only once it is durable, and a crash loses nothing acknowledged; under
//! load, dozens of page saves share one commit and one fsync.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use diesel::Connection;
use diesel::connection::TransactionManager;
use tokio::sync::oneshot;

use super::StorageError;
use super::connection::{DbConn, DbStats, Pool, transaction_depth, write_transaction};

/// Writes taken into one commit at most: bounds how long the first waits.
const MAX_GROUP: usize = 128;

/// A queued write, type-erased so writes of any result type share a queue.
trait Job: Send {
    /// Runs the write inside the open transaction, in its own savepoint.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Reply>;
    /// Answers without running (no connection could be had).
    fn fail(self: Box<Self>, error: StorageError);
}

/// A finished write waiting for its group's commit.
trait Reply: Send {
    /// `committed` is the group's commit outcome; a write that succeeded is
    /// reported as failed if the commit did not happen.
    fn send(self: Box<Self>, committed: Result<(), &StorageError>);
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, StorageError>>,
}

struct Done<T> {
    result: Result<T, StorageError>,
    reply: oneshot::Sender<Result<T, StorageError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Reply> {
        let Pending { work, reply } = *self;
        Box::new(Done { result: in_savepoint(conn, work), reply })
    }

    fn fail(self: Box<Self>, error: StorageError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Reply for Done<T> {
    fn send(self: Box<Self>, committed: Result<(), &StorageError>) {
        let result = match (self.result, committed) {
            (Ok(_), Err(e)) => Err(StorageError::Pool(format!("the write was not committed: {e}"))),
            (result, _) => result,
        };
        // The caller may have gone (a closed connection); the write stands.
        let _ = self.reply.send(result);
    }
}

/// Runs one write in a savepoint: kept if it succeeds, undone if it fails
/// or panics, leaving the group's other writes as they were.
fn in_savepoint<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let outer = transaction_depth(conn);
    <DbConn as Connection>::TransactionManager::begin_transaction(conn)?;
    match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(Ok(value)) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Ok(Err(e)) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
        Err(_) => {
            // A panic may have left savepoints of its own open: unwind to
            // where this write began.
            while transaction_depth(conn).is_ok_and(|now| Ok(now) > outer) {
                <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            }
            Err(StorageError::Pool("the write failed unexpectedly (a bug); nothing of it was kept".into()))
        }
    }
}

/// The queue into the writer thread. The thread ends when the last handle
/// (every clone of the `Db` holding it) is dropped.
pub struct GroupCommit {
    jobs: mpsc::Sender<Box<dyn Job>>,
    stats: DbStats,
}

impl GroupCommit {
    /// Starts the writer thread; it takes a connection from `pool` (a pool
    /// of one) for each group, so other users of that pool still get a turn.
    pub fn start(pool: Pool, stats: DbStats) -> std::io::Result<GroupCommit> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let measured = stats.clone();
        std::thread::Builder::new().name("joinedup-writer".into()).spawn(move || run(&pool, &queue, &measured))?;
        Ok(GroupCommit { jobs, stats })
    }

    /// Queues a write and waits until it is committed (or has failed).
    pub async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.stats.queued_writes.inc();
        self.jobs
            .send(Box::new(Pending { work, reply }))
            .map_err(|_| StorageError::Pool("the database writer has stopped".into()))?;
        answer.await.map_err(|_| StorageError::Pool("the database writer stopped during the write".into()))?
    }
}

fn run(pool: &Pool, queue: &mpsc::Receiver<Box<dyn Job>>, stats: &DbStats) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        stats.queued_writes.dec_by(group.len() as i64);
        stats.group_size.observe(group.len() as f64);
        let began = std::time::Instant::now();
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                for job in group {
                    job.fail(StorageError::Pool(e.to_string()));
                }
                continue;
            }
        };
        let mut replies = Vec::with_capacity(group.len());
        let mut waiting = Some(group);
        let committed = write_transaction(&mut conn, |conn| {
            replies.extend(waiting.take().into_iter().flatten().map(|job| job.run(conn)));
            Ok::<(), StorageError>(())
        });
        // The transaction could not even begin (the lock was held too long).
        if let (Some(group), Err(e)) = (waiting, &committed) {
            for job in group {
                job.fail(StorageError::Pool(format!("the write could not start: {e}")));
            }
        }
        stats.group_commit.observe(began.elapsed().as_secs_f64());
        for reply in replies {
            reply.send(committed.as_ref().map(|_| ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use crate::storage::{DatabaseUrl, Db, StorageError};

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn insert(v: i64) -> impl FnOnce(&mut crate::storage::DbConn) -> Result<(), StorageError> + Send + 'static {
        move |conn| {
            diesel::sql_query("INSERT INTO t (v) VALUES (?)").bind::<BigInt, _>(v).execute(conn)?;
            Ok(())
        }
    }

    /// Writes queued together: each kept or undone on its own, a panic
    /// undoes only its own write, and every caller hears how it went.
    #[tokio::test]
    async fn each_write_in_a_group_stands_or_falls_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DatabaseUrl::Sqlite(dir.path().join("g.sqlite3"))).unwrap();
        db.get_writer().unwrap().batch_execute("CREATE TABLE t (v INTEGER PRIMARY KEY)").unwrap();

        let mut writes = Vec::new();
        for v in 0..50 {
            writes.push(Box::pin(db.write(insert(v))) as std::pin::Pin<Box<dyn Future<Output = _> + Send>>);
        }
        // A duplicate key fails; a panicking write fails; neither harms the rest.
        writes.push(Box::pin(db.write(insert(7))));
        writes.push(Box::pin(db.write(|conn| {
            insert(1000)(conn)?;
            panic!("a bug in a write");
        })));
        let results = futures::future::join_all(writes).await;
        assert!(results[..50].iter().all(Result::is_ok));
        assert!(results[50].is_err(), "the duplicate was refused");
        assert!(results[51].is_err(), "the panicking write reported a failure");

        let count = |db: &Db, sql: &'static str| {
            let mut conn = db.get().unwrap();
            diesel::sql_query(sql).get_result::<Count>(&mut **conn).unwrap().n
        };
        assert_eq!(count(&db, "SELECT count(*) AS n FROM t"), 50);
        assert_eq!(count(&db, "SELECT count(*) AS n FROM t WHERE v = 1000"), 0, "the panicking write was undone");
        // The writer still works afterwards.
        db.write(insert(51)).await.unwrap();
        assert_eq!(count(&db, "SELECT count(*) AS n FROM t"), 51);
    }
}
