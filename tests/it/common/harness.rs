//! The integration tests' harness (libtest-mimic; `harness = false`): every
//! test is a `Trial` named `<module>::<name>`, or `<module>::sqlite::<name>`
//! and `<module>::postgres::<name>` for a test run on each backend. What this
//! machine offers (PostgreSQL, aiosmtpd) is checked once, before any test
//! runs, and a test whose service is absent is reported as `ignored (needs
//! ...)` with the reason, never as passed. Under CI `main` stops instead.

use std::future::Future;

use diesel::Connection;
use libtest_mimic::{Completion, Trial};

use super::TestDb;

/// A service a test needs besides its database.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// aiosmtpd, the real SMTP server `common::smtp` starts on loopback.
    Smtp,
    /// poppler-utils (`pdftotext`, `pdfinfo`, `pdffonts`), which read the
    /// PDFs joinedup prints as a reader's software would.
    Poppler,
}

/// What this machine offers the tests, checked once at start. Each field is
/// what a test needs from the service, or the reason it is absent.
pub struct Services {
    /// The URL of a reachable PostgreSQL server (`TEST_POSTGRES_URL`).
    postgres: Result<String, String>,
    /// A python that can import aiosmtpd.
    smtp: Result<(), String>,
    /// `pdftotext`, `pdfinfo` and `pdffonts` on the PATH.
    poppler: Result<(), String>,
    /// A streaming replica of `postgres` (`TEST_POSTGRES_REPLICA_URL`, as
    /// `scripts/pg-standby.sh start` prints it): the primary's and the
    /// replica's server URLs.
    pub replica: Result<(String, String), String>,
}

/// Whether this run is CI's (`CI=true` or `CI=1`), where no test may be
/// skipped for want of a service.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Services {
    /// Looks for PostgreSQL (`TEST_POSTGRES_URL` set, and a connection to it
    /// succeeds) and for aiosmtpd.
    pub fn detect() -> Services {
        let postgres = match std::env::var("TEST_POSTGRES_URL") {
            Err(_) => Err("needs PostgreSQL: TEST_POSTGRES_URL is not set".to_string()),
            Ok(url) => match diesel::PgConnection::establish(&url) {
                Ok(_) => Ok(url),
                Err(e) => {
                    let e = e.to_string();
                    Err(format!(
                        "needs PostgreSQL: cannot connect to TEST_POSTGRES_URL: {}",
                        e.lines().next().unwrap_or("")
                    ))
                }
            },
        };
        let smtp = match super::smtp::python() {
            Some(_) => Ok(()),
            None => Err("needs aiosmtpd: no python3 here can import it".to_string()),
        };
        let runs = |tool: &str| std::process::Command::new(tool).arg("-v").output().is_ok();
        let poppler = if ["pdftotext", "pdfinfo", "pdffonts"].into_iter().all(runs) {
            Ok(())
        } else {
            Err("needs poppler-utils: pdftotext, pdfinfo or pdffonts is not installed".to_string())
        };
        let replica = match (&postgres, std::env::var("TEST_POSTGRES_REPLICA_URL")) {
            (_, Err(_)) => Err("needs a PostgreSQL replica: TEST_POSTGRES_REPLICA_URL is not set".to_string()),
            (Err(why), Ok(_)) => Err(why.clone()),
            (Ok(primary), Ok(url)) => match diesel::PgConnection::establish(&url) {
                Ok(_) => Ok((primary.clone(), url)),
                Err(e) => Err(format!(
                    "needs a PostgreSQL replica: cannot connect to TEST_POSTGRES_REPLICA_URL: {}",
                    e.to_string().lines().next().unwrap_or("")
                )),
            },
        };
        Services { postgres, smtp, poppler, replica }
    }

    /// Each absent service: the reason its tests give, and how to provide it.
    pub fn absent(&self) -> Vec<(&str, &'static str)> {
        let postgres = self.postgres.as_ref().err().map(|why| {
            (why.as_str(), "set TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to a server that is up")
        });
        let smtp = self
            .smtp
            .as_ref()
            .err()
            .map(|why| (why.as_str(), "apt-get install python3-aiosmtpd, or pip install aiosmtpd"));
        let poppler = self.poppler.as_ref().err().map(|why| (why.as_str(), "apt-get install poppler-utils"));
        let replica = self.replica.as_ref().err().filter(|_| self.postgres.is_ok()).map(|why| {
            (why.as_str(), "export TEST_POSTGRES_REPLICA_URL=$(scripts/pg-standby.sh start) (as root or postgres)")
        });
        postgres.into_iter().chain(smtp).chain(poppler).chain(replica).collect()
    }

    fn missing(&self, need: Need) -> Option<String> {
        match need {
            Need::Smtp => self.smtp.clone().err(),
            Need::Poppler => self.poppler.clone().err(),
        }
    }

    /// `test` as two trials: `<module>::sqlite::<name>` on a fresh SQLite
    /// database and `<module>::postgres::<name>` on a fresh PostgreSQL one.
    /// `module` is the caller's `module_path!()`.
    pub fn on_each_backend<F>(&self, module: &str, name: &str, needs: &[Need], test: F) -> [Trial; 2]
    where
        F: FnOnce(TestDb) + Clone + Send + 'static,
    {
        let module = in_binary(module);
        let missing = needs.iter().find_map(|need| self.missing(*need));
        let sqlite = {
            let test = test.clone();
            trial(format!("{module}::sqlite::{name}"), missing.clone(), move || test(TestDb::sqlite()))
        };
        let postgres = format!("{module}::postgres::{name}");
        let postgres = match &self.postgres {
            Ok(url) => {
                let url = url.clone();
                trial(postgres, missing, move || test(TestDb::postgres(&url)))
            }
            Err(why) => trial(postgres, Some(why.clone()), || {}),
        };
        [sqlite, postgres]
    }

    /// A test that makes its own databases on the PostgreSQL server (a
    /// move from SQLite into PostgreSQL), named `<module>::<name>`: it is
    /// given the server's URL for `TestDb::postgres`.
    pub fn with_postgres(&self, module: &str, name: &str, test: fn(&str)) -> Trial {
        let name = format!("{}::{name}", in_binary(module));
        match &self.postgres {
            Ok(url) => {
                let url = url.clone();
                trial(name, None, move || test(&url))
            }
            Err(why) => trial(name, Some(why.clone()), || {}),
        }
    }
}

/// A test of a PostgreSQL primary and its streaming replica, named
/// `<module>::<name>`; ignored, with the reason, without a replica.
pub fn with_replica<F>(services: &Services, module: &str, name: &str, test: F) -> Trial
where
    F: FnOnce(String, String) + Send + 'static,
{
    let name = format!("{}::{name}", in_binary(module));
    match &services.replica {
        Ok((primary, replica)) => {
            let (primary, replica) = (primary.clone(), replica.clone());
            trial(name, None, move || test(primary, replica))
        }
        Err(why) => trial(name, Some(why.clone()), || {}),
    }
}

/// A test that needs nothing but itself, named `<module>::<name>`.
pub fn plain(module: &str, name: &str, test: fn()) -> Trial {
    trial(format!("{}::{name}", in_binary(module)), None, test)
}

/// Runs `run`, or, with `missing` set, reports the test ignored for that
/// reason without running it. A panic in `run` is a failure (libtest-mimic
/// catches it).
fn trial(name: String, missing: Option<String>, run: impl FnOnce() + Send + 'static) -> Trial {
    match missing {
        None => Trial::test(name, move || {
            run();
            Ok(())
        }),
        Some(why) => Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))),
    }
}

/// A `module_path!()` without the binary's own name: `it::storage` is
/// `storage`, as the test was named when it was a binary of its own.
fn in_binary(module: &str) -> &str {
    module.split_once("::").map_or(module, |(_, inner)| inner)
}

/// Runs an async test in its own runtime, as
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` did.
pub fn block_on(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(test)
}

/// `plain_trials![a, b]`: the trials running the plain `fn()` tests `a` and
/// `b` of the calling module.
macro_rules! plain_trials {
    ($($name:ident),* $(,)?) => {
        ::std::vec![$($crate::common::harness::plain(module_path!(), stringify!($name), $name)),*]
    };
}

/// `on_each_backend!(services; a, b)`: the trials running each
/// `fn(TestDb)` on SQLite and on PostgreSQL. `on_each_backend!(services,
/// needs [Smtp]; c)` for tests that need a service besides the database.
macro_rules! on_each_backend {
    ($services:expr $(, needs [$($need:ident),* $(,)?])?; $($name:ident),* $(,)?) => {{
        let services: &$crate::common::harness::Services = $services;
        let needs: &[$crate::common::harness::Need] = &[$($($crate::common::harness::Need::$need),*)?];
        let mut trials = ::std::vec::Vec::new();
        $(trials.extend(services.on_each_backend(module_path!(), stringify!($name), needs, $name));)*
        trials
    }};
}

/// `on_each_backend!` for `async fn(TestDb)` tests, each in its own
/// multi-threaded runtime with two workers.
macro_rules! on_each_backend_async {
    ($services:expr $(, needs [$($need:ident),* $(,)?])?; $($name:ident),* $(,)?) => {{
        let services: &$crate::common::harness::Services = $services;
        let needs: &[$crate::common::harness::Need] = &[$($($crate::common::harness::Need::$need),*)?];
        let mut trials = ::std::vec::Vec::new();
        $(trials.extend(services.on_each_backend(module_path!(), stringify!($name), needs, |db| {
            $crate::common::harness::block_on($name(db))
        }));)*
        trials
    }};
}
