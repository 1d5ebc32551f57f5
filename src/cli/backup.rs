//! `joinedup backup` and `joinedup restore` (`storage::backup` does the
//! work). A backup is taken online, while the server runs; a restore on
//! SQLite replaces the database file, so the server must be stopped.

use std::path::PathBuf;

use clap::Args;

use crate::settings::Settings;
use crate::storage::{Db, backup};

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore: a SQLite file from `joinedup backup`, or a
    /// pg_dump custom-format file for PostgreSQL.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
}

pub fn backup(settings: &Settings, args: &BackupArgs) -> anyhow::Result<()> {
    // Connecting first says clearly when the database is unreachable.
    drop(Db::connect(&settings.database)?);
    let started = std::time::Instant::now();
    let written = backup::backup(&settings.database, &args.out)?;
    println!(
        "backed up {} to {} ({:.1} MB in {:.1} s)",
        settings.database,
        written.path.display(),
        written.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("consistent as of {}", written.consistent_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    if settings.database.backend() == crate::storage::Backend::Sqlite {
        let migrations = backup::check_sqlite_copy(&written.path)?;
        println!("checked: SQLite's integrity check passes; {migrations} migrations applied");
    }
    Ok(())
}

pub fn restore(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<()> {
    let kept = backup::restore(&settings.database, &args.from)?;
    println!("restored {} into {}", args.from.display(), settings.database);
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}
