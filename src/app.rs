//! Wiring: settings, start-up (load definitions, connect, migrate, publish)
//! and the HTTP server. Used by `main` and by the tests, which start the real
//! app on a random port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::{Context, bail};

use crate::definitions;
pub use crate::settings::{Controller, SecretKey, Settings};
use crate::storage::{self, Db};
use crate::web;
pub use crate::web::AppState;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): plain text, or
/// with `json` one JSON object per line carrying the request's span (its
/// request id) for a log collector.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (in tests) keeps the first subscriber.
    let _ = if json {
        lines.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init()
    } else {
        lines.try_init()
    };
}

/// Start-up: check the definition files, connect, migrate, load reference
/// data, publish new survey versions and read every released version back.
pub async fn prepare(settings: &Settings, migrate: bool) -> anyhow::Result<Arc<AppState>> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(settings, migrate)).await?
}

fn prepare_blocking(settings: Settings, migrate: bool) -> anyhow::Result<Arc<AppState>> {
    let files = load_definitions(&settings)?;
    let mut db = Db::connect(&settings.database)?;
    if let Some(replica) = &settings.database_read {
        db.attach_replica(replica)?;
        tracing::info!(replica = %replica, "analysts' reads go to the replica");
    }
    let mut conn = db.get_writer()?;
    if migrate {
        let applied = storage::migrations::run_pending(&mut conn)?;
        for version in applied {
            tracing::info!(%version, "applied migration");
        }
    } else {
        let pending = storage::migrations::pending_count(&mut conn)?;
        if pending > 0 {
            bail!("the database needs {pending} migration(s); run `joinedup migrate` or start without --no-migrate");
        }
    }
    let surveys = publish_shipped(&mut conn, &files)?;
    let secret = match &settings.secret_key {
        Some(key) => key.clone(),
        None => SecretKey::new(storage::app_settings::secret_key(&mut conn)?)?,
    };
    let stored_icss = storage::icss::all(&mut conn)?;
    drop(conn);
    tracing::info!(database = %settings.database, surveys = surveys.len(), "ready");
    let cookie_key = actix_web::cookie::Key::derive_from(secret.expose().as_bytes());
    let templates = web::templates::registry().map_err(|e| anyhow::anyhow!("a template does not compile: {e}"))?;
    let mailer = match settings.invitations.email() {
        Ok(_) => {
            let templates = crate::invitations::email::Templates::new()
                .map_err(|e| anyhow::anyhow!("an email template does not compile: {e}"))?;
            let mailer = crate::invitations::send::Mailer::new(
                &settings.invitations,
                &settings.base_url,
                secret.expose(),
                Arc::new(templates),
            )?;
            tracing::info!(server = %mailer.server, "email is set up");
            Some(Arc::new(mailer))
        }
        Err(why) => {
            tracing::info!("{why}");
            None
        }
    };
    let releases = crate::results::reports::ReleaseCache::default();
    let metrics = settings.metrics.then(|| web::metrics::Metrics::new(db.stats(), releases.stats()));
    Ok(Arc::new(AppState {
        metrics,
        db,
        surveys: Arc::new(surveys),
        settings,
        secret,
        cookie_key,
        templates,
        icss: stored_icss,
        releases,
        responses: Default::default(),
        mailer,
        clock: crate::clock::Clock::system(),
        loading: Default::default(),
    }))
}

/// Syncs the bundled ICS list and publishes any new version in the
/// definitions folder, as `serve` does at start, then reads every released
/// version back: commands that print or invite see what `serve` would.
pub fn publish_shipped(
    conn: &mut storage::DbConn,
    files: &[definitions::LoadedFile],
) -> anyhow::Result<crate::surveys::SurveyRegistry> {
    let icss = crate::reference::icss().context("the bundled ICS list cannot be read")?;
    storage::icss::sync(conn, &icss)?;
    let report = storage::surveys::publish_files(conn, files)?;
    for published in &report.published {
        tracing::info!(survey = %published, "published a new survey version from its file");
    }
    Ok(crate::surveys::SurveyRegistry::load(conn)?)
}

pub fn load_definitions(settings: &Settings) -> anyhow::Result<Vec<definitions::LoadedFile>> {
    let dir = &settings.definitions;
    if !dir.is_dir() {
        bail!("the survey definitions folder {} does not exist (set JOINEDUP_DEFINITIONS)", dir.display());
    }
    definitions::load_paths(std::slice::from_ref(dir)).map_err(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        anyhow::anyhow!(
            "{} problem(s) in the survey definitions in {}; fix them (see above) or check with `joinedup check`",
            problems.len(),
            dir.display()
        )
    })
}

/// Binds first, so a port in use is reported before anything else starts.
pub fn listen(bind: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind}"))
}

pub fn run(listener: TcpListener, state: Arc<AppState>) -> anyhow::Result<Server> {
    spawn_housekeeping(state.clone());
    spawn_survey_refresh(state.clone());
    crate::invitations::background::spawn(state.background());
    web::server(listener, state).context("cannot start the web server")
}

/// Reloads the released survey versions when another instance has
/// published, closed or reopened one (it writes a change stamp).
fn spawn_survey_refresh(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            every.tick().await;
            match state.surveys.refresh_from(&state.db).await {
                Ok(true) => tracing::info!(surveys = state.surveys.len(), "reloaded the survey versions"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not check for changed survey versions"),
            }
        }
    });
}

/// Hourly: deletes unfinished responses past their resume period, responses
/// past their survey's retention period, and spent sessions and attempts.
fn spawn_housekeeping(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            let cutoff = storage::now() - chrono::Duration::days(i64::from(state.settings.in_progress_days));
            match state.db.write(move |conn| storage::responses::purge_in_progress(conn, cutoff)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted unfinished responses past the retention period"),
                Err(e) => tracing::warn!(error = %e, "could not delete old unfinished responses"),
            }
            let retention: Vec<crate::rights::Retention> = state
                .surveys
                .all()
                .map(|s| crate::rights::Retention {
                    version_id: s.version.id,
                    survey_id: s.definition.id.clone(),
                    version: s.definition.version.clone(),
                    months: s.definition.retention_months,
                })
                .collect();
            match crate::rights::delete_past_retention(&state.db, retention, storage::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted responses past their survey's retention period"),
                Err(e) => tracing::warn!(error = %e, "could not delete responses past their retention period"),
            }
            if let Err(e) = purge_account_leftovers(&state).await {
                tracing::warn!(error = %e, "could not delete ended sessions, old failed sign-ins and old rate-limit attempts");
            }
        }
    });
}

/// Ended sessions, failed sign-ins and counted attempts older than their
/// window are of no use, nor are imports abandoned part way; the audit log
/// keeps what happened.
async fn purge_account_leftovers(state: &AppState) -> Result<(), storage::StorageError> {
    let accounts = state.settings.accounts;
    let now = storage::now();
    state
        .db
        .write(move |conn| {
            storage::accounts::purge_sessions(conn, now - accounts.lifetimes.absolute, now - accounts.lifetimes.idle)?;
            storage::rate_limits::purge(conn, now - chrono::Duration::minutes(crate::address_limits::WINDOW_MINUTES))?;
            // An import that stopped part way an hour ago will never finish.
            for sample in storage::samples::incomplete_before(conn, now - chrono::Duration::hours(1))? {
                storage::samples::abandon_import(conn, sample)?;
            }
            storage::accounts::purge_failures(conn, now - accounts.limits.window)
        })
        .await?;
    Ok(())
}

/// What serving others needs, checked before anything starts:
/// - `JOINEDUP_SECRET_KEY`: without it the key is generated once and kept
///   in the database, where anyone who can read the database could rebuild
///   an invitee's link or forge a session;
/// - the data controller, its contact and the DPO's, which every privacy
///   notice and confirmation page names.
///
/// A loopback address (a laptop, a test, the demo) may do without both.
pub fn require_production_settings(settings: &Settings, address: &std::net::SocketAddr) -> anyhow::Result<()> {
    if address.ip().is_loopback() {
        return Ok(());
    }
    if settings.secret_key.is_none() {
        bail!(
            "serving on {address} needs JOINEDUP_SECRET_KEY: without it the key would be kept in the database, where \
             anyone who can read the database could rebuild invitation links. Generate one with \
             `openssl rand -hex 32` and give every instance the same value"
        );
    }
    if !settings.controller.is_complete() {
        bail!(
            "serving on {address} needs JOINEDUP_CONTROLLER_NAME, JOINEDUP_CONTROLLER_CONTACT and \
             JOINEDUP_DPO_CONTACT: every survey's privacy notice names who is responsible for the answers and how \
             to reach them and their data protection officer"
        );
    }
    Ok(())
}

/// `joinedup migrate`.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::connect(&settings.database)?;
    let mut conn = db.get()?;
    let applied = storage::migrations::run_pending(&mut conn)?;
    let current = storage::migrations::current_version(&mut conn)?.unwrap_or_else(|| "none".into());
    println!("applied {} migration(s); the database is at version {current}", applied.len());
    Ok(())
}
