//! Connections and pools for SQLite and PostgreSQL behind one type.
//!
//! `DbConn` is diesel's `MultiConnection`, so every query is written once.
//! The backend is chosen from the URL scheme, never by trial: diesel's own
//! `establish` would happily create a SQLite file named like a bad
//! PostgreSQL URL.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager, TransactionManagerStatus};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::StorageError;
use super::group_commit::GroupCommit;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Short text (categories, codes) read inline, without a heap allocation
/// per value, on either backend: results read millions of them.
impl diesel::deserialize::FromSql<diesel::sql_types::Text, MultiBackend> for compact_str::CompactString {
    fn from_sql(bytes: MultiRawValue<'_>) -> diesel::deserialize::Result<Self> {
        bytes.from_sql::<Self, diesel::sql_types::Text>()
    }
}

/// Runs the same block on whichever concrete connection `conn` holds, for
/// the few statements `MultiConnection` cannot express (upserts).
#[macro_export]
macro_rules! per_backend {
    ($conn:ident => $body:block) => {
        match $conn {
            $crate::storage::DbConn::Postgres($conn) => $body,
            $crate::storage::DbConn::Sqlite($conn) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where the data lives: `sqlite://PATH`, a plain file path, or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StorageError::BadUrl("DATABASE_URL is empty".into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StorageError::BadUrl("`sqlite://` needs a file path after it".into()));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StorageError::BadUrl(format!(
                "unknown database URL scheme `{scheme}://`; use `sqlite://PATH`, a file path, or `postgres://…`"
            )));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Shown in logs and errors without the password.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(s), Some(at)) if at > s => {
                    let userinfo = &url[s + 3..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
                    write!(f, "{}{}{}", &url[..s + 3], masked, &url[at..])
                }
                _ => f.write_str(url),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// SQLite settings applied to every connection: WAL, foreign keys enforced,
/// and waiting (not failing) while another writer holds the lock. The busy
/// timeout comes first: switching to WAL itself needs the lock.
/// `synchronous = FULL` syncs the log at every commit, so an acknowledged
/// answer survives a power cut, not only a crash; the server's group
/// commits (`group_commit`) share one sync among many writes.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

/// How long a new SQLite connection keeps retrying its set-up while another
/// process holds the lock: the same as the busy timeout.
const SQLITE_SETUP_PATIENCE: Duration = Duration::from_secs(10);

/// Applies `SQLITE_PRAGMAS`, retrying while the file is locked. SQLite does
/// not call the busy handler when switching to WAL would risk a deadlock
/// (two processes opening a new file at once both try), so the busy
/// timeout alone does not cover it: two servers starting together did fail
/// with "database is locked".
fn sqlite_setup(conn: &mut SqliteConnection) -> Result<(), diesel::result::Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.batch_execute(SQLITE_PRAGMAS) {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("locked") && started.elapsed() < SQLITE_SETUP_PATIENCE =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// Opens connections of the backend the URL names.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Connection(#[from] ConnectionError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Manager { url }
    }
}

/// A pooled connection, with what the pool needs to know to trust it.
pub struct Pooled {
    conn: DbConn,
    /// When a statement last succeeded on it.
    last_ok: Instant,
    /// A statement found the server gone (PostgreSQL restarted).
    lost: bool,
}

impl std::ops::Deref for Pooled {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl Pooled {
    /// Notes how work on the connection went: success renews its liveness;
    /// an error saying the server has gone condemns it.
    pub fn note<T>(&mut self, result: &Result<T, StorageError>) {
        match result {
            Ok(_) => self.last_ok = Instant::now(),
            Err(StorageError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _,
            ))) => self.lost = true,
            Err(_) => {}
        }
    }
}

/// A PostgreSQL connection that did work this recently is taken as alive
/// without a test query (the idea of HikariCP's `aliveBypassWindowMs`).
/// Under load that saves a round trip on every checkout; an idle pool is
/// still tested, so connections left over from before a server restart are
/// found and replaced before anyone uses them.
const ALIVE_WITHOUT_TEST: Duration = Duration::from_millis(500);

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnectError;

    fn connect(&self) -> Result<Pooled, ConnectError> {
        let conn = match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                sqlite_setup(&mut conn)?;
                DbConn::Sqlite(conn)
            }
            DatabaseUrl::Postgres(url) => DbConn::Postgres(PgConnection::establish(url)?),
        };
        Ok(Pooled { conn, last_ok: Instant::now(), lost: false })
    }

    /// A SQLite file cannot drop a connection; a PostgreSQL server can.
    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), ConnectError> {
        if matches!(pooled.conn, DbConn::Sqlite(_)) || pooled.last_ok.elapsed() < ALIVE_WITHOUT_TEST {
            return Ok(());
        }
        pooled.conn.batch_execute("SELECT 1")?;
        pooled.last_ok = Instant::now();
        Ok(())
    }

    /// Dropped rather than reused: a connection whose server has gone, or
    /// one handed back with a transaction still open (work that panicked
    /// half-way), which would carry it into its next user.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.lost || in_transaction(&mut pooled.conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// How long a read on the replica waits for it to catch up with the
/// primary before going on (and saying how far behind it was).
const REPLICA_WAIT: Duration = Duration::from_secs(5);

/// The database handle passed to everything that stores data.
///
/// SQLite allows one writer at a time; writers that meet a held lock sleep
/// and retry, which wastes whole milliseconds. So on SQLite all writes go
/// through a pool of exactly one connection and queue in memory instead,
/// handed over the moment the previous write commits. Reads use the main
/// pool, concurrently (WAL).
#[derive(Clone)]
pub struct Db {
    /// Where this handle reads: the primary, or for the analysts' handle
    /// (`for_analysts`) the replica when there is one.
    pool: Pool,
    writer: Pool,
    /// The primary's reading pool, whichever `pool` reads.
    primary: Pool,
    /// PostgreSQL: a streaming replica for analysts' heavy reads
    /// (`JOINEDUP_DATABASE_READ_URL`), so they never queue respondents.
    replica: Option<Pool>,
    /// Whether `pool` is the replica's (this is the analysts' handle).
    reads_replica: bool,
    /// SQLite only: the thread that commits queued writes in groups.
    grouped: Option<Arc<GroupCommit>>,
    url: DatabaseUrl,
    stats: DbStats,
}

/// What the database handle measures of itself, for the metrics page:
/// shared by every clone of the handle.
#[derive(Clone)]
pub struct DbStats {
    /// Seconds a request waited for a pooled connection.
    pub pool_wait: Histogram,
    /// SQLite: writes queued for the writer thread, not yet taken.
    pub queued_writes: Gauge,
    /// SQLite: seconds each group commit took (its writes and the fsync).
    pub group_commit: Histogram,
    /// SQLite: writes per group commit.
    pub group_size: Histogram,
}

impl DbStats {
    fn new() -> DbStats {
        DbStats {
            pool_wait: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
            queued_writes: Gauge::default(),
            group_commit: Histogram::new(exponential_buckets(0.000_1, 2.0, 14)),
            group_size: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
        }
    }
}

/// A pool's connections right now.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Db {
    /// Connects once directly, so an unreachable server or unwritable file
    /// gives its own message, then builds the pool.
    pub fn connect(url: &DatabaseUrl) -> Result<Db, StorageError> {
        let stats = DbStats::new();
        let manager = Manager::new(url.clone());
        manager.connect().map_err(|e| StorageError::Unreachable {
            url: url.to_string(),
            reason: e.to_string().trim().to_string(),
        })?;
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .test_on_check_out(true)
                .connection_timeout(Duration::from_secs(30))
                .build_unchecked(manager.clone())
        };
        let (pool, writer, grouped) = match url.backend() {
            Backend::Sqlite => {
                let writer = build(1);
                let grouped = GroupCommit::start(writer.clone(), stats.clone())
                    .map_err(|e| StorageError::Pool(format!("cannot start the database writer: {e}")))?;
                (build(8), writer, Some(Arc::new(grouped)))
            }
            Backend::Postgres => {
                // Each connection is a server process on the same few
                // cores: 8 served the respondent load run best (16: 7% fewer
                // pages a second and a longer tail; 4: 7% fewer).
                let pool = build(8);
                (pool.clone(), pool, None)
            }
        };
        Ok(Db {
            primary: pool.clone(),
            pool,
            writer,
            replica: None,
            reads_replica: false,
            grouped,
            url: url.clone(),
            stats,
        })
    }

    /// Adds a streaming replica for analysts' reads. Both must be
    /// PostgreSQL, and the replica must be a standby: a URL that reaches a
    /// primary by mistake would split reads from the data they describe.
    pub fn attach_replica(&mut self, url: &DatabaseUrl) -> Result<(), StorageError> {
        if self.backend() != Backend::Postgres || url.backend() != Backend::Postgres {
            return Err(StorageError::Pool(
                "JOINEDUP_DATABASE_READ_URL needs PostgreSQL for both the database and its replica".into(),
            ));
        }
        let manager = Manager::new(url.clone());
        let mut conn = match manager.connect() {
            Ok(conn) => conn,
            // A replica down for maintenance must not keep respondents
            // out: analysts read the primary until the next start.
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(replica = %url, reason = reason.trim(), "the replica cannot be reached: analysts' reads use the primary until the next start");
                return Ok(());
            }
        };
        if !super::replica::is_standby(&mut conn)? {
            return Err(StorageError::Pool(format!(
                "JOINEDUP_DATABASE_READ_URL ({url}) is not a standby (pg_is_in_recovery() is false): point it at a streaming replica of the database, or unset it"
            )));
        }
        let pool = r2d2::Pool::builder()
            .max_size(4)
            .min_idle(Some(1))
            .test_on_check_out(true)
            .connection_timeout(Duration::from_secs(30))
            .build_unchecked(manager);
        self.replica = Some(pool);
        Ok(())
    }

    /// The handle for analysts' outputs (results, microdata): it reads the
    /// replica when there is one and writes, as every handle does, to the
    /// primary. Respondents' and staff pages keep the primary handle.
    pub fn for_analysts(&self) -> Db {
        match &self.replica {
            Some(replica) => Db { pool: replica.clone(), reads_replica: true, ..self.clone() },
            None => self.clone(),
        }
    }

    /// How far this handle's reads are behind the primary: `None` when it
    /// reads the primary itself. It first waits, up to `REPLICA_WAIT`, for
    /// the replica to replay what the primary had written when asked, so a
    /// replica that is merely a moment behind (another database's write,
    /// say) reads as caught up; a replica still behind after that is
    /// reported as it is.
    pub fn replica_lag(&self) -> Result<Option<super::replica::Lag>, StorageError> {
        if !self.reads_replica {
            return Ok(None);
        }
        let position = super::replica::primary_position(&mut *self.get_primary()?)?;
        let mut replica = self.get()?;
        let started = std::time::Instant::now();
        loop {
            let lag = super::replica::behind(&mut replica, &position)?;
            if lag.bytes == 0.0 || started.elapsed() >= REPLICA_WAIT {
                return Ok(Some(lag));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// This handle if its reads are caught up with the primary (after
    /// waiting as `replica_lag` does), else the primary's: for reads that
    /// must not show what has since been withdrawn (microdata).
    pub fn caught_up_or_primary(&self) -> Result<Db, StorageError> {
        match self.replica_lag()? {
            Some(lag) if lag.bytes > 0.0 => {
                tracing::warn!(bytes = lag.bytes, "the replica is behind: reading the primary instead");
                Ok(Db { pool: self.primary.clone(), reads_replica: false, ..self.clone() })
            }
            _ => Ok(self.clone()),
        }
    }

    /// A connection to the primary for a small read that must see the
    /// latest writes (a release just stored by another request, say).
    pub fn get_primary(&self) -> Result<PooledConn, StorageError> {
        self.primary.get().map_err(|e| StorageError::Pool(e.to_string()))
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A connection for blocking work (CLI commands, start-up).
    pub fn get(&self) -> Result<PooledConn, StorageError> {
        self.pool.get().map_err(|e| StorageError::Pool(e.to_string()))
    }

    /// Another connection for a read split into parts, if one comes within
    /// a second; `None` means do the read on the connection in hand.
    pub fn get_spare(&self) -> Option<PooledConn> {
        self.pool.get_timeout(Duration::from_secs(1)).ok()
    }

    /// Runs blocking work that takes its own connections (a read split
    /// over several) on tokio's blocking pool.
    pub async fn run_with_pool<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> T + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&db)))
            .await
            .map_err(|e| StorageError::Pool(format!("database task failed: {e}")))
    }

    /// Runs blocking diesel reads on tokio's blocking pool, never on an
    /// async worker thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    {
        Self::on_blocking_thread(self.pool.clone(), &self.stats, work).await
    }

    /// For the hot, small reads of every respondent page (one response and
    /// its answers, by key). On SQLite they take tens of microseconds from
    /// the page cache, less than handing them to another thread and back,
    /// so they run right here when a connection is free. Anything larger,
    /// and every PostgreSQL read (a network round trip), goes through `run`.
    pub async fn read_small<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    {
        if self.backend() == Backend::Sqlite
            && let Some(mut conn) = self.pool.try_get()
        {
            let result = work(&mut conn);
            conn.note(&result);
            return result;
        }
        self.run(work).await
    }

    /// Like `run`, for work that writes; it returns once the write is
    /// committed. On SQLite it joins the writer thread's next group commit
    /// (`group_commit`), in a savepoint of its own.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    {
        match &self.grouped {
            Some(grouped) => grouped.write(work).await,
            None => Self::on_blocking_thread(self.writer.clone(), &self.stats, work).await,
        }
    }

    /// A connection for blocking writes (CLI commands).
    pub fn get_writer(&self) -> Result<PooledConn, StorageError> {
        self.writer.get().map_err(|e| StorageError::Pool(e.to_string()))
    }

    /// The handle's own measurements, for the metrics page.
    pub fn stats(&self) -> &DbStats {
        &self.stats
    }

    /// The reading pool's and the writing pool's connections now.
    pub fn pool_states(&self) -> [(&'static str, PoolState); 2] {
        let state = |pool: &Pool| {
            let s = pool.state();
            PoolState { size: s.connections, idle: s.idle_connections, max: pool.max_size() }
        };
        [("read", state(&self.pool)), ("write", state(&self.writer))]
    }

    async fn on_blocking_thread<T, F>(pool: Pool, stats: &DbStats, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    {
        // The caller's span (a request's id) follows the work.
        let span = tracing::Span::current();
        let wait = stats.pool_wait.clone();
        tokio::task::spawn_blocking(move || {
            let _request = span.enter();
            let asked = std::time::Instant::now();
            let mut conn = pool.get().map_err(|e| StorageError::Pool(e.to_string()))?;
            wait.observe(asked.elapsed().as_secs_f64());
            let result = work(&mut conn);
            conn.note(&result);
            result
        })
        .await
        .map_err(|e| StorageError::Pool(format!("database task failed: {e}")))?
    }
}

/// How many transactions and savepoints are open on the connection;
/// `Err` when diesel's record of them is broken.
pub fn transaction_depth(conn: &mut DbConn) -> Result<Option<NonZeroU32>, ()> {
    match <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn) {
        TransactionManagerStatus::Valid(status) => Ok(status.transaction_depth()),
        TransactionManagerStatus::InError => Err(()),
    }
}

/// Whether a transaction is open (or was left broken) on the connection.
pub fn in_transaction(conn: &mut DbConn) -> bool {
    transaction_depth(conn).map_or(true, |depth| depth.is_some())
}

/// A transaction that takes the write lock at the start. On SQLite this is
/// `BEGIN IMMEDIATE`, so concurrent writers wait on the busy timeout instead
/// of failing when a read is upgraded to a write.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if in_transaction(conn) {
        // Inside a transaction already (a grouped write): a savepoint.
        <DbConn as Connection>::TransactionManager::begin_transaction(conn)?;
    } else {
        match conn {
            DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
            DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
        }
    }
    match work(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The original error matters more than a failed rollback.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert_eq!(DatabaseUrl::parse("joinedup.sqlite3").unwrap(), DatabaseUrl::Sqlite("joinedup.sqlite3".into()));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(), Backend::Postgres);
        let err = DatabaseUrl::parse("mysql://root@localhost/x").unwrap_err().to_string();
        assert!(err.contains("unknown database URL scheme `mysql://`"), "{err}");
    }

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db.example/joinedup").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db.example/joinedup");
    }
}
