//! Every setting as a flag and an environment variable (the flag wins),
//! and turning them into checked `Settings`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::settings::{Controller, SecretKey, Settings};
use crate::storage::DatabaseUrl;

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Log lines as plain text for people, or one JSON object per line for
    /// a log collector; either way on stderr, filtered by RUST_LOG.
    #[arg(long, env = "JOINEDUP_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    pub log_format: String,
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "joinedup.sqlite3", global = true, hide_env_values = true)]
    pub database_url: String,
    /// PostgreSQL: a streaming replica (postgres://USER@HOST/DB) that
    /// analysts' results and microdata read, so their heavy reads never
    /// queue respondents. Unset: everything reads the database.
    #[arg(long, env = "JOINEDUP_DATABASE_READ_URL", global = true, hide_env_values = true)]
    pub database_read_url: Option<String>,
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
    /// Count requests and serve /metrics to admin API tokens (on/off).
    #[arg(long, env = "JOINEDUP_METRICS", default_value = "on", value_parser = ["on", "off"], global = true)]
    pub metrics: String,
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

/// The settings the flags and environment give, checked.
pub fn settings(args: &ConfigArgs) -> anyhow::Result<Settings> {
    let database = DatabaseUrl::parse(&args.database_url)?;
    let database_read = match args.database_read_url.as_deref().filter(|u| !u.trim().is_empty()) {
        None => None,
        Some(url) => {
            let url = DatabaseUrl::parse(url)?;
            if url.backend() != crate::storage::Backend::Postgres
                || database.backend() != crate::storage::Backend::Postgres
            {
                bail!("JOINEDUP_DATABASE_READ_URL is for a PostgreSQL replica of a PostgreSQL DATABASE_URL");
            }
            Some(url)
        }
    };
    let base_url = args.base_url.trim_end_matches('/').to_string();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("JOINEDUP_BASE_URL must start with http:// or https://, not `{base_url}`");
    }
    Ok(Settings {
        database,
        database_read,
        bind: args.bind.clone(),
        definitions: args.definitions.clone(),
        hsts: args.hsts == "on",
        metrics: args.metrics == "on",
        base_url,
        secret_key: args.secret_key.clone().map(SecretKey::new).transpose()?,
        in_progress_days: nonzero(args.in_progress_days, "JOINEDUP_IN_PROGRESS_DAYS")?,
        start_rate: nonzero(args.start_rate, "JOINEDUP_START_RATE")?,
        suppress_below: match args.suppress_below {
            n if n < crate::index::disclosure::FLOOR => {
                bail!("JOINEDUP_SUPPRESS_BELOW must be at least {}", crate::index::disclosure::FLOOR)
            }
            n => n,
        },
        accounts: account_settings(args)?,
        controller: Controller {
            name: args.controller_name.clone(),
            contact: args.controller_contact.clone(),
            dpo_contact: args.dpo_contact.clone(),
        },
        invitations: crate::invitations::InvitationSettings::new(
            args.smtp_url.as_deref(),
            args.mail_from.as_deref(),
            args.reminder_delay_days,
            args.send_rate,
            args.email_retention_days,
        )?,
    })
}

fn account_settings(args: &ConfigArgs) -> anyhow::Result<crate::accounts::AccountSettings> {
    use crate::accounts::{limits::SignInLimits, session::Lifetimes};
    let idle = nonzero(args.session_idle_minutes, "JOINEDUP_SESSION_IDLE_MINUTES")?;
    let absolute = nonzero(args.session_absolute_hours, "JOINEDUP_SESSION_ABSOLUTE_HOURS")?;
    if i64::from(idle) > i64::from(absolute) * 60 {
        bail!(
            "JOINEDUP_SESSION_IDLE_MINUTES ({idle}) must not be longer than JOINEDUP_SESSION_ABSOLUTE_HOURS ({absolute} h)"
        );
    }
    Ok(crate::accounts::AccountSettings {
        lifetimes: Lifetimes {
            idle: chrono::Duration::minutes(i64::from(idle)),
            absolute: chrono::Duration::hours(i64::from(absolute)),
        },
        limits: SignInLimits {
            per_account: nonzero(args.sign_in_account_limit, "JOINEDUP_SIGN_IN_ACCOUNT_LIMIT")?,
            per_address: nonzero(args.sign_in_address_limit, "JOINEDUP_SIGN_IN_ADDRESS_LIMIT")?,
            ..SignInLimits::default()
        },
    })
}

fn nonzero(value: u32, name: &str) -> anyhow::Result<u32> {
    if value == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(value)
}
