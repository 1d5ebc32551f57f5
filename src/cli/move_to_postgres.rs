//! `joinedup move --to postgres://…` (`storage::move_to_postgres` does the
//! work): the configured SQLite installation copied into an empty
//! PostgreSQL database, then checked. Stop the server first; the SQLite
//! file is only read, and stays as it was.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::settings::Settings;
use crate::storage::DatabaseUrl;
use crate::storage::move_to_postgres::{self, Progress};

/// How often a long copy of one table reports its progress.
const SAY_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
pub struct MoveArgs {
    /// The empty PostgreSQL database to copy into: postgres://USER@HOST/DB.
    /// Keep the password out of the command line: libpq reads PGPASSWORD
    /// and ~/.pgpass.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub to: String,
}

pub fn run(settings: &Settings, args: &MoveArgs) -> anyhow::Result<()> {
    let target = DatabaseUrl::parse(&args.to)?;
    let started = Instant::now();
    let seconds = || started.elapsed().as_secs_f64();
    // A large table says how far it has got every few seconds.
    let mut last_said = Instant::now();
    eprintln!("moving {} into {target}", settings.database);
    let moved = move_to_postgres::move_to_postgres(&settings.database, &target, &mut |p| match p {
        Progress::Migrated { applied } => eprintln!("  migrated the target ({applied} migrations applied now)"),
        Progress::Copying { table, rows } if last_said.elapsed() > SAY_EVERY => {
            eprintln!("  copying {table}: {rows} rows so far ({:.1} s)", seconds());
            last_said = Instant::now();
        }
        Progress::Copying { .. } => {}
        Progress::Copied { table, rows } => {
            eprintln!("  copied {table}: {rows} rows ({:.1} s)", seconds());
            last_said = Instant::now();
        }
        Progress::Checked { table, ok } => {
            eprintln!("  checked {table}: {} ({:.1} s)", if ok { "the same" } else { "DIFFERENT" }, seconds());
        }
    })?;
    let width = moved.tables.iter().map(|t| t.table.len()).max().unwrap_or(5).max(5);
    println!("{:<width$}  {:>10}  {:>10}  {:<12}  ok", "table", "sqlite", "postgres", "checksum");
    for t in &moved.tables {
        println!(
            "{:<width$}  {:>10}  {:>10}  {:<12}  {}",
            t.table,
            t.source_rows,
            t.target_rows,
            &t.target_checksum[..12],
            if t.ok() { "yes".to_string() } else { format!("NO (sqlite {})", &t.source_checksum[..12]) }
        );
    }
    let differ: Vec<&str> = moved.tables.iter().filter(|t| !t.ok()).map(|t| t.table.as_str()).collect();
    if !moved.committed {
        bail!(
            "the copy differs from the SQLite database in {}: nothing was committed, and {target} holds no rows",
            differ.join(", ")
        );
    }
    let rows: u64 = moved.tables.iter().map(|t| t.target_rows).sum();
    println!(
        "moved {rows} rows in {} tables ({} migrations, {} sequences reset) in {:.1} s; every table's rows and \
         checksum agree",
        moved.tables.len(),
        moved.migrations,
        moved.sequences,
        started.elapsed().as_secs_f64()
    );
    println!("next: point DATABASE_URL at {target} and start joinedup; keep {} as a backup", settings.database);
    Ok(())
}
