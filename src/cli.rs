//! The `joinedup` command line: every setting has a flag and an environment
//! variable (the flag wins), listed in `--help` and the README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Settings};
use crate::definitions;

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
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "joinedup.sqlite3", global = true, hide_env_values = true)]
    pub database_url: String,
    /// Address and port the web server listens on.
    #[arg(long, env = "JOINEDUP_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// Folder of survey definition files loaded at start.
    #[arg(long, env = "JOINEDUP_DEFINITIONS", default_value = "survey-definitions", global = true)]
    pub definitions: PathBuf,
    /// The public address of the site, used in links and emails.
    #[arg(long, env = "JOINEDUP_BASE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub base_url: String,
    /// Send Strict-Transport-Security when the base URL is https (on/off).
    /// Off only when the reverse proxy sends it instead.
    #[arg(long, env = "JOINEDUP_HSTS", default_value = "on", value_parser = ["on", "off"], global = true)]
    pub hsts: String,
    /// Signs cookies and CSRF tokens (32+ characters). When unset, one is
    /// generated once and kept in the database, shared by every instance.
    #[arg(long, env = "JOINEDUP_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Days an unfinished response is kept (and a resume code works) before it is deleted.
    #[arg(long, env = "JOINEDUP_IN_PROGRESS_DAYS", default_value_t = 30, global = true)]
    pub in_progress_days: u32,
    /// Estimates from fewer respondents are suppressed (never below 10).
    #[arg(long, env = "JOINEDUP_SUPPRESS_BELOW", default_value_t = 30, global = true)]
    pub suppress_below: usize,
    /// Open-link survey starts allowed per client address per minute.
    #[arg(long, env = "JOINEDUP_START_RATE", default_value_t = 30, global = true)]
    pub start_rate: u32,
    /// Minutes without a request after which a staff session ends.
    #[arg(long, env = "JOINEDUP_SESSION_IDLE_MINUTES", default_value_t = 30, global = true)]
    pub session_idle_minutes: u32,
    /// Hours after signing in at which a staff session ends, however active.
    #[arg(long, env = "JOINEDUP_SESSION_ABSOLUTE_HOURS", default_value_t = 12, global = true)]
    pub session_absolute_hours: u32,
    /// Failed sign-ins allowed per email address in 15 minutes.
    #[arg(long, env = "JOINEDUP_SIGN_IN_ACCOUNT_LIMIT", default_value_t = 5, global = true)]
    pub sign_in_account_limit: u32,
    /// Failed sign-ins allowed per client address in 15 minutes.
    #[arg(long, env = "JOINEDUP_SIGN_IN_ADDRESS_LIMIT", default_value_t = 20, global = true)]
    pub sign_in_address_limit: u32,
    /// The mail server for invitations: smtp://USER:PASSWORD@HOST:587?tls=required
    /// (STARTTLS), smtps://USER:PASSWORD@HOST:465 (TLS), or smtp://HOST:25 (a
    /// local relay, no encryption). Unset: no email is sent.
    #[arg(long, env = "JOINEDUP_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of invitations, like "Survey team <surveys@example.org>".
    #[arg(long, env = "JOINEDUP_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Days after an invitation (or the last reminder) before a reminder may go.
    #[arg(long, env = "JOINEDUP_REMINDER_DELAY_DAYS", default_value_t = 7, global = true)]
    pub reminder_delay_days: u32,
    /// Emails handed to the mail server per minute, at most.
    #[arg(long, env = "JOINEDUP_SEND_RATE", default_value_t = 300, global = true)]
    pub send_rate: u32,
    /// Days after a survey closes before its sample's email addresses are erased.
    #[arg(long, env = "JOINEDUP_EMAIL_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub email_retention_days: u32,
    /// The data controller named in privacy notices (the organisation).
    #[arg(long, env = "JOINEDUP_CONTROLLER_NAME", global = true)]
    pub controller_name: Option<String>,
    /// How respondents contact the controller (an email address or a page).
    #[arg(long, env = "JOINEDUP_CONTROLLER_CONTACT", global = true)]
    pub controller_contact: Option<String>,
    /// How respondents contact the data protection officer.
    #[arg(long, env = "JOINEDUP_DPO_CONTACT", global = true)]
    pub dpo_contact: Option<String>,
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
    Token(TokenCommand),
    /// Import a sample CSV and email its people their invitations (or,
    /// without --sample, send what is queued: a resume).
    Invite(crate::invitations::commands::InviteArgs),
    /// Email a reminder to everyone invited who has neither answered nor
    /// opted out, once the reminder delay has passed.
    Remind(crate::invitations::commands::RemindArgs),
    /// Download a survey's weighted results (index, domains, questions) for
    /// every ICS and group, with disclosure control applied.
    Results(ResultsArgs),
    /// Recompute a survey's stored scores from its answers after a scoring
    /// correction, and record the run.
    Rescore(crate::rescore::RescoreArgs),
    /// Weight your own respondents to population margins (raking within
    /// each ICS, optional trimming), and optionally estimate a mean.
    Weight(WeightArgs),
    /// Staff accounts: add, list, disable, reset a password.
    #[command(subcommand)]
    User(crate::accounts::commands::UserCommand),
    /// Find or withdraw one response by the reference its respondent quotes.
    #[command(subcommand)]
    Response(ResponseCommand),
    /// Rotate the keys invitation links and email hashes are made with.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    #[arg(long)]
    pub survey: String,
    /// The release: a closed calendar month, YYYY-MM (default: the latest).
    #[arg(long, value_name = "YYYY-MM")]
    pub release: Option<String>,
    /// Every closed release from this date on (dates snap to whole months).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Every closed release up to this date.
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Only one sample: `invitation`, `open_link` or `pooled` (default: each
    /// sample the release has, labelled).
    #[arg(long, alias = "channel")]
    pub sample: Option<String>,
    /// Cap weights at K times the ICS mean weight (2 to 10), or `off`
    /// (default 5).
    #[arg(long, value_name = "K|off")]
    pub trim: Option<String>,
    /// Also the invited and open-link samples combined (composite weights).
    #[arg(long)]
    pub pooled: bool,
    /// csv, xlsx or json.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// File to write (default: standard output; required for xlsx).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct WeightArgs {
    /// CSV: id, ics, one column per dimension in the margins (empty = not
    /// given), optional base_weight; other columns are ignored.
    #[arg(long)]
    pub respondents: PathBuf,
    /// CSV: ics, dimension, category, population, optional collapse_into.
    #[arg(long)]
    pub margins: PathBuf,
    /// Cap weights at K times the ICS mean weight, re-raking until both hold.
    #[arg(long, value_name = "K")]
    pub trim: Option<f64>,
    /// Where to write `id,weight`.
    #[arg(long, default_value = "weights.csv")]
    pub out: PathBuf,
    /// ICSs with fewer respondents are scaled to their total, not raked.
    #[arg(long, default_value_t = 10)]
    pub min_respondents: usize,
    /// A numeric column whose weighted mean to estimate per ICS.
    #[arg(long, value_name = "COLUMN", requires = "estimates_out")]
    pub estimate: Option<String>,
    /// Also split the estimate by this column's categories.
    #[arg(long, value_name = "COLUMN", requires = "estimate")]
    pub by: Option<String>,
    /// Where to write the estimates.
    #[arg(long, value_name = "FILE", requires = "estimate")]
    pub estimates_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create invitation tokens and print their links, one per line.
    Issue(TokenIssueArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenIssueArgs {
    /// The survey id the invitation is for (a published survey).
    #[arg(long)]
    pub survey: String,
    /// Preset the ICS (ONS code E54… or ODS code): the area question is skipped.
    #[arg(long)]
    pub ics: Option<String>,
    /// Preset the voice (patient, carer_self, carer_on_behalf): the voice question is skipped.
    #[arg(long)]
    pub voice: Option<String>,
    /// The language the survey opens in.
    #[arg(long)]
    pub language: Option<String>,
    /// Sample stratum: age band (e.g. 65-74).
    #[arg(long)]
    pub age_band: Option<String>,
    /// Sample stratum: sex (female or male).
    #[arg(long)]
    pub sex: Option<String>,
    /// Sample stratum: deprivation (IMD) quintile, 1 (most deprived) to 5.
    #[arg(long)]
    pub imd_quintile: Option<i32>,
    /// Probability this person was selected; its inverse is the base weight.
    #[arg(long)]
    pub selection_probability: Option<f64>,
    /// How many tokens to create.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Days until the links stop working (default: never).
    #[arg(long)]
    pub expires_days: Option<u32>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ResponseCommand {
    /// Show which survey a response is to and its status (never its answers).
    Find {
        #[arg(long)]
        reference: String,
    },
    /// Delete a response, its answers and its scores, audited without them.
    Withdraw {
        #[arg(long)]
        reference: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// After setting a new JOINEDUP_SECRET_KEY: give every invitation whose
    /// address is still kept a link under the new key, so reminders work,
    /// while links already sent keep working until `retire-old-links`.
    RekeyLinks {
        /// The key links were made with until now (default: the key kept in
        /// the database when none was configured).
        #[arg(long, env = "JOINEDUP_PREVIOUS_SECRET_KEY", hide_env_values = true)]
        previous_secret_key: Option<String>,
    },
    /// Stop links sent before the last `rekey-links` from working (after a
    /// leak of the old key, say; send reminders afterwards).
    RetireOldLinks,
    /// Replace the email hash key and re-hash every address still kept; the
    /// old key is kept only to recognise erased addresses' opt-outs.
    RotateEmailKey,
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
    app::init_tracing();
    let settings = match Settings::from_args(&cli.config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Check { paths, json } => return check(&settings, paths, json),
        Command::Migrate => app::migrate(&settings),
        Command::Token(TokenCommand::Issue(args)) => crate::invitations::issue::issue_tokens(&settings, &args),
        Command::Invite(args) => crate::invitations::commands::invite(&settings, &args),
        Command::Remind(args) => crate::invitations::commands::remind(&settings, &args),
        Command::Results(args) => crate::reports::run_command(&settings, &args),
        Command::Rescore(args) => crate::rescore::run_command(&settings, &args),
        Command::Weight(args) => crate::weight_files::run(&crate::weight_files::WeightJob {
            respondents: args.respondents,
            margins: args.margins,
            out: args.out,
            trim: args.trim,
            min_respondents: args.min_respondents,
            estimate: args.estimate,
            by: args.by,
            estimates_out: args.estimates_out,
        }),
        Command::User(command) => crate::accounts::commands::run(&settings, command),
        Command::Response(command) => response_command(&settings, command),
        Command::Keys(command) => keys_command(&settings, command),
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
            let started = std::time::Instant::now();
            let made = crate::demo::load_if_empty(&state.db, &state.surveys, 1.0).await?;
            if made > 0 {
                println!(
                    "--demo: loaded {made} synthetic submitted responses in {:.1} s (made-up people)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        tracing::info!(address = %listener.local_addr()?, "joinedup is listening");
        app::run(listener, state)?.await?;
        Ok(())
    })
}

/// `joinedup response find|withdraw --reference R`.
fn keys_command(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    use crate::invitations::keys;
    let db = crate::storage::Db::connect(&settings.database)?;
    let mut conn = db.get_writer()?;
    if crate::storage::migrations::pending_count(&mut conn)? > 0 {
        anyhow::bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let actor = crate::accounts::audit::Actor::command_line();
    match command {
        KeysCommand::RekeyLinks { previous_secret_key } => {
            let Some(new) = &settings.secret_key else {
                anyhow::bail!(
                    "set the new key in JOINEDUP_SECRET_KEY (try `openssl rand -hex 32`) and the old one in JOINEDUP_PREVIOUS_SECRET_KEY"
                );
            };
            let previous = match previous_secret_key {
                Some(key) => key,
                None => crate::storage::app_settings::get(&mut conn, crate::storage::app_settings::SECRET_KEY)?
                    .ok_or_else(|| {
                        anyhow::anyhow!("give the key links were made with in JOINEDUP_PREVIOUS_SECRET_KEY")
                    })?,
            };
            if previous == new.expose() {
                anyhow::bail!("JOINEDUP_PREVIOUS_SECRET_KEY is the same as JOINEDUP_SECRET_KEY: nothing to rotate");
            }
            let done = keys::rekey_links(&mut conn, &previous, new.expose(), &actor)?;
            println!(
                "{} invitation link(s) re-keyed (the links already sent still work until `joinedup keys retire-old-links`); {} already under the new key",
                done.rekeyed, done.current
            );
            if done.unknown > 0 {
                println!(
                    "{} link(s) were made under neither key and are left as they are: is JOINEDUP_PREVIOUS_SECRET_KEY right?",
                    done.unknown
                );
            }
            Ok(())
        }
        KeysCommand::RetireOldLinks => {
            let retired = keys::retire_old_links(&mut conn, &actor)?;
            println!("{retired} link(s) sent before the last rotation no longer work");
            Ok(())
        }
        KeysCommand::RotateEmailKey => {
            let done = keys::rotate_email_key(&mut conn, &actor)?;
            println!(
                "new email hash key in use; {} kept address(es) re-hashed; {} retired key(s) kept to recognise opt-outs and past invitations of erased addresses",
                done.rehashed, done.retired_keys
            );
            Ok(())
        }
    }
}

fn response_command(settings: &Settings, command: ResponseCommand) -> anyhow::Result<()> {
    let db = crate::storage::Db::connect(&settings.database)?;
    let mut conn = db.get_writer()?;
    match command {
        ResponseCommand::Find { reference } => match crate::rights::find_blocking(&mut conn, &reference)? {
            Some(f) => {
                let submitted = f.submitted.map_or_else(|| "not submitted".to_string(), |t| format!("submitted {t}"));
                println!(
                    "{}: survey {} version {}, {} ({}), started {}, {submitted}",
                    f.reference, f.survey_id, f.version, f.status, f.channel, f.started
                );
                Ok(())
            }
            None => {
                anyhow::bail!("no response has the reference `{reference}` (it may have been withdrawn or deleted)")
            }
        },
        ResponseCommand::Withdraw { reference } => {
            let actor = crate::accounts::audit::Actor::command_line();
            match crate::rights::withdraw_blocking(&mut conn, &reference, &actor, None)? {
                Some(w) => {
                    println!(
                        "withdrew a response to {}: it, its {} answer(s) and its scores are deleted",
                        w.survey_id, w.answers
                    );
                    Ok(())
                }
                None => {
                    anyhow::bail!("no response has the reference `{reference}` (it may have been withdrawn already)")
                }
            }
        }
    }
}

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
