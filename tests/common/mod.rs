//! Shared test helpers: a fresh database per test on each backend, and the
//! real app started on a random port.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl};
use joinedup::app::{self, AppState, SecretKey, Settings};
use joinedup::storage::{DatabaseUrl, Db};
use rand::Rng;

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: DatabaseUrl,
    /// Keeps the SQLite file's folder alive.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server URL to drop the database through.
    admin: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("test.sqlite3"));
        TestDb { url, _dir: Some(dir), admin: None }
    }

    /// A fresh database on the server named by `TEST_POSTGRES_URL`. Locally
    /// an unset or unreachable server skips with a message; under CI
    /// (`CI=true`) it fails, so no suite silently skips there.
    pub fn postgres() -> Option<TestDb> {
        let under_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
            assert!(!under_ci, "CI=true but TEST_POSTGRES_URL is not set: the PostgreSQL suite may not skip under CI");
            eprintln!(
                "SKIPPED: PostgreSQL test (set TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run it)"
            );
            return None;
        };
        let mut admin = match diesel::PgConnection::establish(&admin_url) {
            Ok(c) => c,
            Err(e) => {
                assert!(!under_ci, "CI=true but PostgreSQL at TEST_POSTGRES_URL is unreachable: {e}");
                eprintln!("SKIPPED: PostgreSQL test: cannot connect to TEST_POSTGRES_URL: {e}");
                return None;
            }
        };
        let name = format!("joinedup_test_{:016x}", rand::rng().random::<u64>());
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
        let url = with_database(&admin_url, &name);
        Some(TestDb { url: DatabaseUrl::Postgres(url), _dir: None, admin: Some((admin_url, name)) })
    }

    pub fn connect(&self) -> Db {
        Db::connect(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.admin
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs the body once per backend as separate `sqlite`/`postgres` tests, so
/// CI can see that the PostgreSQL ones ran.
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::TestDb::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(db) = $crate::common::TestDb::postgres() { super::$name(db) } } )*
        }
    };
}

#[macro_export]
macro_rules! on_each_backend_async {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name($crate::common::TestDb::sqlite()).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if let Some(db) = $crate::common::TestDb::postgres() { super::$name(db).await } } )*
        }
    };
}

pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn settings(db: &TestDb, definitions: &Path) -> Settings {
    Settings {
        database: db.url.clone(),
        bind: "127.0.0.1:0".into(),
        definitions: definitions.to_path_buf(),
        base_url: "http://127.0.0.1".into(),
        secret_key: Some(SecretKey::new("test-secret-key-that-is-long-enough-0123456789".into()).unwrap()),
    }
}

/// The real app on a random port, with its state for direct checks.
pub struct TestApp {
    pub address: String,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(settings(db, &project_path("survey-definitions"))).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        let state = app::prepare(&settings, true).await.expect("start-up");
        let listener = app::listen("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let server = app::run(listener, state.clone()).expect("server");
        tokio::spawn(server);
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        TestApp { address: format!("http://127.0.0.1:{port}"), state, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}
