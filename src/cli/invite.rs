//! `joinedup invite` and `joinedup remind`: the same import, queueing and
//! sending as the survey lead's pages, for scripts, with a progress bar at
//! a terminal. Running a command again after it was stopped (even killed)
//! resumes: the same sample file is recognised, nothing is queued twice,
//! and a message that may have gone is reported, not resent.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::Actor;
use crate::clock::Clock;
use crate::invitations::import::{self, Outcome, Request};
use crate::invitations::send::{self, Mailer, Report};
use crate::invitations::{email, queue};
use crate::settings::{SecretKey, Settings};
use crate::storage::outbox::Status;
use crate::storage::{self, Db, icss, outbox};
use crate::surveys::SurveyRegistry;

#[derive(Debug, Clone, Args)]
pub struct InviteArgs {
    /// The survey to invite people to (its id; it must be published).
    #[arg(long)]
    pub survey: String,
    /// A sample CSV to import first: ics, and email or address and
    /// postcode (or both), and optionally channel, age_band, sex,
    /// imd_quintile, selection_probability, language, voice. Without it,
    /// what is already queued is sent (a resume).
    #[arg(long, value_name = "FILE")]
    pub sample: Option<PathBuf>,
    /// Import the valid lines even if some lines have problems (they are listed).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Returned paper questionnaires of this sample are keyed twice,
    /// blind, by two different keyers (double entry).
    #[arg(long, requires = "sample")]
    pub double_entry: bool,
    /// Import and queue, but do not send now.
    #[arg(long)]
    pub no_send: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RemindArgs {
    /// The survey whose non-responders to remind.
    #[arg(long)]
    pub survey: String,
    /// Queue the reminders but do not send now.
    #[arg(long)]
    pub no_send: bool,
}

/// What both commands start from.
struct Setup {
    db: Db,
    surveys: SurveyRegistry,
    secret: SecretKey,
    clock: Clock,
}

fn open(settings: &Settings, survey_id: &str) -> anyhow::Result<Setup> {
    let db = super::database::open_for_responses(settings)?;
    let mut conn = db.get()?;
    if storage::migrations::pending_count(&mut conn)? > 0 {
        bail!("the database is not migrated yet; run `joinedup migrate` (or start the server) first");
    }
    let surveys = SurveyRegistry::load(&mut conn)?;
    if surveys.latest(survey_id).is_none() {
        bail!("no published survey has the id `{survey_id}`");
    }
    let secret = match &settings.secret_key {
        Some(key) => key.clone(),
        None => SecretKey::new(storage::app_settings::secret_key(&mut conn)?)?,
    };
    drop(conn);
    Ok(Setup { db, surveys, secret, clock: Clock::system() })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// `joinedup invite`.
pub fn invite(settings: &Settings, args: &InviteArgs) -> anyhow::Result<()> {
    let cx = open(settings, &args.survey)?;
    let actor = Actor::command_line();
    if let Some(path) = &args.sample {
        import_file(&cx, args, path, &actor)?;
    }
    let survey_id = args.survey.clone();
    let queued = {
        let mut conn = cx.db.get_writer()?;
        queue::invitations(&mut conn, &survey_id, &actor, None, cx.clock.now())?
    };
    if queued > 0 {
        println!("queued {queued} invitation(s)");
    }
    if args.no_send {
        println!("not sending now (--no-send): run `joinedup invite --survey {survey_id}` to send what is queued");
        return Ok(());
    }
    send_queued(settings, &cx, &survey_id, &actor)
}

/// `joinedup remind`.
pub fn remind(settings: &Settings, args: &RemindArgs) -> anyhow::Result<()> {
    let cx = open(settings, &args.survey)?;
    let actor = Actor::command_line();
    let delay = settings.invitations.reminder_delay_days;
    let tally = {
        let mut conn = cx.db.get_writer()?;
        queue::reminders(&mut conn, &args.survey, delay, &actor, None, cx.clock.now())?
    };
    println!("{} (reminder delay: {delay} day(s))", tally.summary());
    if args.no_send {
        return Ok(());
    }
    send_queued(settings, &cx, &args.survey, &actor)
}

fn import_file(cx: &Setup, args: &InviteArgs, path: &PathBuf, actor: &Actor) -> anyhow::Result<()> {
    let survey_id = &args.survey;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the sample file {}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let shown = path.display().to_string();
    let survey = cx.surveys.latest(survey_id).expect("checked in open");
    let mut conn = cx.db.get_writer()?;
    let today = cx.clock.today();
    let icss = icss::valid_on(&mut conn, today)?;
    let outcome = import::import(
        &mut conn,
        &Request {
            survey: &survey.definition,
            icss: &icss,
            file_name: &name,
            bytes: &bytes,
            skip_invalid: args.skip_invalid,
            double_entry: args.double_entry,
            secret: cx.secret.expose(),
            actor,
            client_ip: None,
            at: cx.clock.now(),
        },
    )?;
    match outcome {
        Outcome::Imported { sample, skipped, opted_out } => {
            for p in &skipped {
                eprintln!("{shown}:{}: skipped: {}", p.line, p.message);
            }
            println!("imported {} people from {shown} (sample {})", sample.rows_imported, sample.id);
            if !skipped.is_empty() {
                println!("skipped {} line(s) with problems (listed above)", import::lines_with_problems(&skipped));
            }
            if opted_out > 0 {
                println!("left out {opted_out} address(es) that opted out of this survey");
            }
            Ok(())
        }
        Outcome::AlreadyImported(sample) => {
            println!(
                "{shown} was imported already (sample {}, {}); sending what is still queued",
                sample.id,
                sample.created_at.format("%-d %b %Y %H:%M UTC")
            );
            Ok(())
        }
        Outcome::Refused { problems, valid, opted_out } => {
            for p in &problems {
                eprintln!("{shown}:{}: error: {}", p.line, p.message);
            }
            if opted_out > 0 {
                eprintln!("({opted_out} address(es) that opted out of this survey would be left out)");
            }
            if valid > 0 {
                bail!(
                    "{} problem(s) in {shown}; nothing was imported. Fix them, or import the {valid} valid line(s) with --skip-invalid",
                    problems.len()
                )
            }
            bail!("{} problem(s) in {shown}; nothing was imported", problems.len())
        }
    }
}

fn send_queued(settings: &Settings, cx: &Setup, survey_id: &str, actor: &Actor) -> anyhow::Result<()> {
    let waiting = {
        let id = survey_id.to_string();
        let mut conn = cx.db.get()?;
        let counts = outbox::counts(&mut conn, &id)?;
        counts.iter().filter(|((_, s), _)| *s == Status::Queued).map(|(_, n)| *n as u64).sum::<u64>()
    };
    if waiting > 0 && cx.surveys.current(survey_id, cx.clock.today()).is_none() {
        bail!(
            "survey `{survey_id}` is not open today, so nothing was sent; the {waiting} queued message(s) wait until it opens"
        );
    }
    let templates =
        Arc::new(email::Templates::new().map_err(|e| anyhow::anyhow!("an email template does not compile: {e}"))?);
    let bar = ProgressBar::new(waiting);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages ({per_sec}, {eta} left) {msg}")
            .expect("a valid progress template"),
    );
    // The mail transport's connection pool lives on the runtime: it is made
    // and dropped inside it.
    let result = runtime()?.block_on(async {
        let mailer = match Mailer::new(&settings.invitations, &settings.base_url, cx.secret.expose(), templates) {
            Ok(m) => m,
            Err(e) if waiting > 0 => bail!("{e}; the {waiting} queued message(s) were not sent"),
            Err(e) => bail!("{e}"),
        };
        let mut progress = |r: &Report| {
            bar.set_position(r.handled());
            if r.failed + r.uncertain > 0 {
                bar.set_message(format!("{} failed, {} uncertain", r.failed, r.uncertain));
            }
        };
        let with = send::Sending { db: &cx.db, surveys: &cx.surveys, clock: &cx.clock, mailer: &mailer };
        let report =
            send::run_when_free(&with, Some(survey_id), actor, std::time::Duration::from_secs(15), &mut progress)
                .await?;
        Ok(report)
    });
    bar.finish_and_clear();
    let report = result?;
    print_report(cx, survey_id, &report)?;
    if let Some(stopped) = report.stopped {
        bail!("sending stopped: {stopped}. What was not sent is still queued: run this command again to resume");
    }
    Ok(())
}

fn print_report(cx: &Setup, survey_id: &str, report: &Report) -> anyhow::Result<()> {
    println!("{}", report.summary());
    if report.recovered > 0 {
        println!(
            "{} message(s) were being handed to the mail server when an earlier run stopped. They may or may not \
             have arrived, so they are marked uncertain and were not sent again; a survey lead can resend them from \
             the survey's page.",
            report.recovered
        );
    }
    let mut conn = cx.db.get()?;
    let failures = outbox::failures(&mut conn, survey_id)?;
    for f in failures.iter().filter(|f| f.status == Status::Failed) {
        println!(
            "failed: {} (sample line {}): {}",
            f.email.as_deref().unwrap_or("(erased)"),
            f.line,
            f.error.as_deref().unwrap_or("no reason recorded")
        );
    }
    let waiting = outbox::counts(&mut conn, survey_id)?
        .iter()
        .filter(|((_, s), _)| *s == Status::Queued)
        .map(|(_, n)| *n)
        .sum::<i64>();
    if waiting > 0 {
        println!("{waiting} message(s) wait in the queue (to retry later, or until the survey opens)");
    }
    Ok(())
}
