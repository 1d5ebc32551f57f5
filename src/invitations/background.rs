//! The server's own invitation work: sending whatever is queued (a run
//! started by a lead, queued reminders, messages waiting to retry, or a run
//! cut short by a restart), and erasing addresses when their time comes.
//! Several instances may all try; the sender lock lets one send at a time.

use std::sync::Arc;
use std::time::Duration;

use super::retention;
use super::send::{self, Mailer, SendError, Sending};
use crate::audit::Actor;
use crate::storage::Db;
use crate::storage::outbox;
use crate::surveys::SurveyRegistry;

/// What the background work needs of the running app, and nothing more.
#[derive(Clone)]
pub struct Background {
    pub db: Db,
    pub surveys: Arc<SurveyRegistry>,
    /// None when email is not set up.
    pub mailer: Option<Arc<Mailer>>,
    pub email_retention_days: u32,
    pub clock: crate::clock::Clock,
}

/// Starts the background loops: a send attempt every minute (when email is
/// set up and anything is queued), the erasure check every hour.
pub fn spawn(state: Background) {
    if state.mailer.is_some() {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                send_queued(&state, Actor::system()).await;
            }
        });
    }
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            let days = state.email_retention_days;
            match retention::erase_due(&state.db, days, state.clock.now()).await {
                Ok(done) => {
                    for (survey, n) in done {
                        tracing::info!(%survey, erased = n, "erased the email addresses of a closed survey");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not erase the email addresses of closed surveys"),
            }
        }
    });
}

/// Sends what is queued now, in the background of a request that queued it.
pub fn send_soon(state: Background, actor: Actor) {
    tokio::spawn(async move { send_queued(&state, actor).await });
}

async fn send_queued(state: &Background, actor: Actor) {
    let Some(mailer) = &state.mailer else { return };
    match state.db.run(|conn| outbox::has_queued(conn, None)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not look at the outbox");
            return;
        }
    }
    match send::run(
        &Sending { db: &state.db, surveys: &state.surveys, clock: &state.clock, mailer },
        None,
        &actor,
        &mut |_| {},
    )
    .await
    {
        Ok(report) if report.handled() > 0 || report.recovered > 0 => {
            tracing::info!(summary = %report.summary(), stopped = ?report.stopped, "sending run finished");
        }
        Ok(_) => {}
        Err(SendError::Busy) => tracing::debug!("another process is sending"),
        Err(e) => tracing::warn!(error = %e, "sending did not run"),
    }
}
