//! `joinedup doctor`: checks an installation without changing it. The
//! database answers and its migrations are current; the secret key and the
//! data controller are set where the server would refuse to start without
//! them; email, when set up, reaches its server; the database's disk has
//! room. One line per check, and exit 1 if any fails.

use std::path::Path;

use crate::settings::Settings;
use crate::storage::{Backend, DatabaseUrl, Db, migrations};

/// Below this much free disk the database may soon stop taking writes.
const DISK_WARN_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One check's line.
pub struct Check {
    pub verdict: Verdict,
    pub name: &'static str,
    pub detail: String,
}

fn check(verdict: Verdict, name: &'static str, detail: impl Into<String>) -> Check {
    Check { verdict, name, detail: detail.into() }
}

/// Runs every check; the caller prints them.
pub fn checks(settings: &Settings) -> Vec<Check> {
    let mut out = Vec::new();
    match Db::connect(&settings.database) {
        Err(e) => out.push(check(Verdict::Fail, "database", e.to_string())),
        Ok(db) => {
            out.push(check(Verdict::Ok, "database", format!("{} answers", settings.database)));
            match db
                .get_writer()
                .map_err(|e| e.to_string())
                .and_then(|mut c| migrations::pending_count(&mut c).map_err(|e| e.to_string()))
            {
                Ok(0) => out.push(check(Verdict::Ok, "migrations", "every migration is applied")),
                Ok(n) => out.push(check(
                    Verdict::Fail,
                    "migrations",
                    format!("{n} pending: run `joinedup migrate` (or start the server, which migrates under a lock)"),
                )),
                Err(e) => out.push(check(Verdict::Fail, "migrations", e)),
            }
        }
    }
    // As `serve` decides: only a loopback bind may do without these.
    let loopback = settings.bind.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
    out.push(match (&settings.secret_key, loopback) {
        (Some(_), _) => check(Verdict::Ok, "secret key", "JOINEDUP_SECRET_KEY is set"),
        (None, true) => check(
            Verdict::Warn,
            "secret key",
            "not set: a generated key kept in the database is used, which only loopback allows",
        ),
        (None, false) => check(Verdict::Fail, "secret key", "JOINEDUP_SECRET_KEY must be set to serve off loopback"),
    });
    out.push(match (settings.controller.is_complete(), loopback) {
        (true, _) => check(Verdict::Ok, "data controller", "named in every privacy notice"),
        (false, true) => check(Verdict::Warn, "data controller", "not named: notices say so (allowed on loopback)"),
        (false, false) => check(
            Verdict::Fail,
            "data controller",
            "set JOINEDUP_CONTROLLER_NAME, JOINEDUP_CONTROLLER_CONTACT and JOINEDUP_DPO_CONTACT",
        ),
    });
    out.push(email(settings));
    out.push(disk(&settings.database));
    out
}

fn email(settings: &Settings) -> Check {
    let Ok((url, _)) = settings.invitations.email() else {
        return check(Verdict::Warn, "email", "not set up: invitations and reminders cannot be sent");
    };
    // lettre's pool starts and stops tasks: build, use and drop it inside
    // the runtime.
    let answered =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from).and_then(
            |runtime| {
                runtime.block_on(async {
                    let transport = url.transport()?;
                    Ok(match transport.test_connection().await {
                        Ok(true) => Ok(()),
                        Ok(false) => Err("the server did not answer".to_string()),
                        Err(e) => Err(e.to_string()),
                    })
                })
            },
        );
    match answered {
        Ok(Ok(())) => check(Verdict::Ok, "email", format!("{url} answers")),
        Ok(Err(why)) => check(Verdict::Fail, "email", format!("{url} does not answer: {why}")),
        Err(e) => check(Verdict::Fail, "email", e.to_string()),
    }
}

fn disk(database: &DatabaseUrl) -> Check {
    let DatabaseUrl::Sqlite(path) = database else {
        debug_assert_eq!(database.backend(), Backend::Postgres);
        return check(Verdict::Ok, "disk", "PostgreSQL keeps its own disk: watch the server's");
    };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match fs4::available_space(folder) {
        Ok(free) if free < DISK_WARN_BYTES => {
            check(Verdict::Warn, "disk", format!("{:.1} GB free beside {}", free as f64 / 1e9, path.display()))
        }
        Ok(free) => check(Verdict::Ok, "disk", format!("{:.1} GB free beside {}", free as f64 / 1e9, path.display())),
        Err(e) => check(Verdict::Fail, "disk", format!("cannot read the free space beside {}: {e}", path.display())),
    }
}

/// `joinedup doctor`: prints each check; fails if any check failed.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let results = checks(settings);
    for c in &results {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        println!("{mark}  {:<16} {}", c.name, c.detail);
    }
    let failed = results.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
