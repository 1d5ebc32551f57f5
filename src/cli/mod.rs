//! The `joinedup` command line: every setting has a flag and an environment
//! variable (the flag wins), listed in `--help` and the README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Settings};
use crate::definitions;

mod backup;
mod config;
mod database;
mod doctor;
mod invite;
mod keys;
mod move_to_postgres;
mod print;
mod rescore;
mod response;
mod results;
mod token;
mod user;
mod weight;

#[derive(Debug, Parser)]
#[command(
    name = "joinedup",
    version,
    about = "Measures how joined-up health and care feels to patients and carers, per integrated care system.",
    long_about = "Measures how joined-up health and care feels to patients and carers, per integrated care system.\n\n\
                  With no command, `joinedup` runs `serve`."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: config::ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (migrating the database first unless told not to).
    Serve(ServeArgs),
    /// Validate survey definition files and folders; exit 1 on any problem.
    Check {
        /// Files or folders to check (default: the definitions folder).
        paths: Vec<PathBuf>,
        /// Print one JSON object per valid survey instead of summary lines.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Invitation tokens without email, for tests and manual use.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Import a sample CSV and email its people their invitations (or,
    /// without --sample, send what is queued: a resume).
    Invite(invite::InviteArgs),
    /// Email a reminder to everyone invited who has neither answered nor
    /// opted out, once the reminder delay has passed.
    Remind(invite::RemindArgs),
    /// Download a survey's weighted results (index, domains, questions) for
    /// every ICS and group, with disclosure control applied.
    Results(results::ResultsArgs),
    /// Recompute a survey's stored scores from its answers after a scoring
    /// correction, and record the run.
    Rescore(rescore::RescoreArgs),
    /// Weight your own respondents to population margins (raking within
    /// each ICS, optional trimming), and optionally estimate a mean.
    Weight(weight::WeightArgs),
    /// Staff accounts: add, list, disable, reset a password.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Find or withdraw one response by the reference its respondent quotes.
    #[command(subcommand)]
    Response(response::ResponseCommand),
    /// Rotate the keys invitation links and email hashes are made with.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A consistent copy of the whole database while the server runs:
    /// SQLite's VACUUM INTO, or pg_dump's custom format on PostgreSQL.
    Backup(backup::BackupArgs),
    /// Put a backup in place of the database (stop the server first on
    /// SQLite): the copy is checked first, and the old file kept aside.
    Restore(backup::RestoreArgs),
    /// Copy this SQLite installation into an empty PostgreSQL database
    /// (stop the server first), then check every table's rows and checksum.
    Move(move_to_postgres::MoveArgs),
    /// Check the installation without changing it: the database and its
    /// migrations, keys, the data controller, email, and disk space.
    Doctor,
    /// Paper questionnaires to print and post.
    #[command(subcommand)]
    Print(print::PrintCommand),
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Do not apply migrations at start (refuse to run if any are pending).
    #[arg(long)]
    pub no_migrate: bool,
    /// On an empty database, create one account per role with one-time
    /// passwords printed once here. Only on a loopback address.
    #[arg(long)]
    pub demo: bool,
}

/// Parses the command line, runs the command and turns failures into one
/// clear line on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    app::init_tracing(cli.config.log_format == "json");
    let settings = match config::settings(&cli.config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Check { paths, json } => return check(&settings, paths, json),
        Command::Migrate => app::migrate(&settings),
        Command::Token(token::TokenCommand::Issue(args)) => token::issue_tokens(&settings, &args),
        Command::Invite(args) => invite::invite(&settings, &args),
        Command::Remind(args) => invite::remind(&settings, &args),
        Command::Results(args) => results::run(&settings, &args),
        Command::Rescore(args) => rescore::run(&settings, &args),
        Command::Weight(args) => weight::run(args),
        Command::User(command) => user::run(&settings, command),
        Command::Response(command) => response::run(&settings, command),
        Command::Keys(command) => keys::run(&settings, command),
        Command::Backup(args) => backup::backup(&settings, &args),
        Command::Doctor => doctor::run(&settings),
        Command::Restore(args) => backup::restore(&settings, &args),
        Command::Move(args) => move_to_postgres::run(&settings, &args),
        Command::Print(command) => print::run(&settings, command),
        Command::Serve(args) => run_server(settings, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

fn run_server(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = app::listen(&settings.bind)?;
        if args.demo {
            crate::accounts::demo::refuse_unless_loopback(&listener.local_addr()?)?;
        }
        app::require_production_settings(&settings, &listener.local_addr()?)?;
        let state = app::prepare(&settings, !args.no_migrate).await?;
        if args.demo {
            crate::accounts::demo::create_if_empty(&state.db, &mut std::io::stdout()).await?;
            // The demo responses go in behind a server that already
            // answers: `/healthz` says `loading` until they are in.
            state.loading.store(true, std::sync::atomic::Ordering::Release);
            let state = state.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let loaded = crate::demo::load_marked(&state.db, &state.surveys, state.clock.now(), 1.0).await;
                state.loading.store(false, std::sync::atomic::Ordering::Release);
                match loaded {
                    Ok(0) => {}
                    Ok(made) => println!(
                        "--demo: loaded {made} synthetic submitted responses in {:.1} s (made-up people)",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => tracing::error!(error = %e, "the demo responses could not be loaded"),
                }
            });
        }
        tracing::info!(address = %listener.local_addr()?, "joinedup is listening");
        app::run(listener, state)?.await?;
        Ok(())
    })
}

/// `joinedup check`: every problem of every file, or a line per survey.
fn check(settings: &Settings, paths: Vec<PathBuf>, json: bool) -> ExitCode {
    let paths = if paths.is_empty() { vec![settings.definitions.clone()] } else { paths };
    match definitions::load_paths(&paths) {
        Ok(files) => {
            for file in &files {
                let d = &file.definition;
                if json {
                    let per_voice: std::collections::BTreeMap<&str, usize> =
                        d.pages_per_voice().into_iter().map(|(v, n)| (v.code(), n)).collect();
                    let line = serde_json::json!({
                        "file": file.path.display().to_string(),
                        "id": d.id,
                        "version": d.version,
                        "content_hash": d.content_hash,
                        "pages": d.pages.len(),
                        "questions": d.question_count(),
                        "scored_items": d.scored_items().len(),
                        "domains": d.domains.len(),
                        "languages": d.languages.iter().map(|l| &l.code).collect::<Vec<_>>(),
                        "pages_per_voice": per_voice,
                    });
                    println!("{line}");
                } else {
                    println!("ok {}: {}", file.path.display(), definitions::summary(d));
                }
            }
            if files.is_empty() {
                eprintln!("error: no definition files (*.yaml) found in {}", display(&paths));
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            let files: std::collections::BTreeSet<&str> = problems.iter().map(|p| p.file.as_str()).collect();
            eprintln!(
                "{} problem{} in {} file{}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

fn display(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
