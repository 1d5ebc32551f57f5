//! A sending run: drains the outbox through the mail server, one message
//! at a time, at no more than the configured rate.
//!
//! Each message is claimed (`queued` → `sending`, committed) before it is
//! handed to the server and marked `sent` only after the server accepts
//! it. A run first takes the sender lock; holding it, any row still in
//! `sending` belonged to a process that stopped mid-message, so it becomes
//! `uncertain`, for a lead to look at: it is never sent again by itself.
//! A server that cannot be reached stops the run with everything unsent
//! still queued; a refused address is recorded as failed, and a "try
//! later" reply is retried a few times, then recorded as failed.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use futures_util::StreamExt;
use lettre::message::Mailbox;

use super::email::{self, Letter, Templates};
use super::lock;
use super::settings::{InvitationSettings, SmtpUrl};
use super::transport::{Transport, TransportError};
use crate::audit::{self, Action, Actor, Event};
use crate::clock::Clock;
use crate::storage::outbox::{self, Claim, Claimed, Kind};
use crate::storage::surveys::VersionStatus;
use crate::storage::{Db, StorageError};
use crate::surveys::SurveyRegistry;
use crate::tokens;

/// A "try later" reply is retried this many times in all.
pub const MAX_ATTEMPTS: i32 = 3;

/// Messages handed to the mail server at the same time, each on its own
/// connection (see `run`).
pub const PARALLEL_CONNECTIONS: usize = 8;

/// Everything a run needs to build and send messages.
pub struct Mailer {
    pub transport: Transport,
    pub server: SmtpUrl,
    pub from: Mailbox,
    pub templates: Arc<Templates>,
    /// The public address links point at.
    pub base_url: String,
    /// The app's secret key: rebuilds each invitee's link token.
    pub secret: String,
    pub rate_per_minute: u32,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer({})", self.server)
    }
}

impl Mailer {
    /// A mailer from the settings, or why email cannot be sent.
    pub fn new(
        settings: &InvitationSettings,
        base_url: &str,
        secret: &str,
        templates: Arc<Templates>,
    ) -> anyhow::Result<Mailer> {
        let (server, from) = settings.email().map_err(anyhow::Error::msg)?;
        Ok(Mailer {
            transport: Transport::Smtp(server.transport()?),
            server: server.clone(),
            from: from.clone(),
            templates,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret: secret.to_string(),
            rate_per_minute: settings.send_rate_per_minute,
        })
    }

    /// A mailer that keeps every message in memory (`transport.sent()`),
    /// for tests of what is sent and to whom.
    pub fn in_memory(
        settings: &InvitationSettings,
        base_url: &str,
        secret: &str,
        templates: Arc<Templates>,
    ) -> anyhow::Result<Mailer> {
        let (_, from) = settings.email().map_err(anyhow::Error::msg)?;
        Ok(Mailer {
            transport: Transport::in_memory(),
            server: SmtpUrl::parse("smtp://memory.invalid")?,
            from: from.clone(),
            templates,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret: secret.to_string(),
            rate_per_minute: settings.send_rate_per_minute,
        })
    }

    /// Whether the mail server answers (it is connected to and sent NOOP).
    pub async fn reachable(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not answer".into()),
            Err(e) => Err(describe(&e)),
        }
    }
}

/// The links in an invitee's email.
pub fn links(base_url: &str, token: &str) -> (String, String) {
    (format!("{base_url}/s/{token}"), format!("{base_url}/opt-out/{token}"))
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub invitations_sent: u64,
    pub reminders_sent: u64,
    pub failed: u64,
    pub uncertain: u64,
    pub cancelled: u64,
    pub retry_later: u64,
    /// Rows a stopped process left in `sending`, now `uncertain`.
    pub recovered: u64,
    /// Why the run stopped before the queue was empty, if it did.
    pub stopped: Option<String>,
}

impl Report {
    pub fn sent(&self) -> u64 {
        self.invitations_sent + self.reminders_sent
    }

    /// Messages dealt with so far, whatever happened to them.
    pub fn handled(&self) -> u64 {
        self.sent() + self.failed + self.uncertain + self.cancelled + self.retry_later
    }

    pub fn summary(&self) -> String {
        format!(
            "{} invitation(s) and {} reminder(s) sent, {} failed, {} uncertain, {} cancelled, {} to retry later",
            self.invitations_sent, self.reminders_sent, self.failed, self.uncertain, self.cancelled, self.retry_later
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("another joinedup process is sending now (the web server or another command); it sends what is queued")]
    Busy,
    #[error(
        "cannot reach the mail server at {server}: {reason}. Nothing was sent: the messages stay queued and go once it can be reached"
    )]
    Unreachable { server: String, reason: String },
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// The mail server's error as a lead can read it: the reply, or what broke.
fn describe(e: &TransportError) -> String {
    let mut text = e.to_string();
    let mut source = match e {
        TransportError::Smtp(e) => std::error::Error::source(e),
        TransportError::Memory(e) => std::error::Error::source(e),
    };
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text.chars().take(500).collect()
}

/// What a failed hand-over means for the message.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// A 5xx reply: this address (or message) will not be accepted.
    Refused(String),
    /// A 4xx reply: the server asks to try later.
    Later(String),
    /// No connection was made: the message certainly did not go.
    NotConnected(String),
    /// The connection broke during the hand-over: it may have gone.
    Unknown(String),
}

fn classify(e: &TransportError) -> Failure {
    let text = describe(e);
    let e = match e {
        TransportError::Smtp(e) => e,
        TransportError::Memory(_) => return Failure::Refused(text),
    };
    if e.is_permanent() {
        return Failure::Refused(text);
    }
    if e.is_transient() {
        return Failure::Later(text);
    }
    if e.is_tls() {
        return Failure::NotConnected(text);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | NotFound | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            ) {
                return Failure::NotConnected(text);
            }
        }
        source = s.source();
    }
    Failure::Unknown(text)
}

async fn acquire(db: &Db) -> Result<lock::SenderLock, SendError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || lock::try_acquire(&db))
        .await
        .map_err(|e| StorageError::Pool(format!("lock task failed: {e}")))??
        .ok_or(SendError::Busy)
}

/// What sending needs: where the queue is, the surveys the messages are
/// about, the clock, and the mail server.
#[derive(Clone, Copy)]
pub struct Sending<'a> {
    pub db: &'a Db,
    pub surveys: &'a SurveyRegistry,
    pub clock: &'a Clock,
    pub mailer: &'a Mailer,
}

/// Like `run`, but waits up to `patience` for another sender to finish
/// (a command line run started just after a stopped one, whose lock the
/// database may take a moment to release).
pub async fn run_when_free(
    with: &Sending<'_>,
    scope: Option<&str>,
    actor: &Actor,
    patience: std::time::Duration,
    on_progress: &mut (dyn FnMut(&Report) + Send),
) -> Result<Report, SendError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match run(with, scope, actor, on_progress).await {
            Err(SendError::Busy) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

/// Sends every due queued message of `scope` (a survey id; `None`: all),
/// calling `on_progress` after each. Writes one audit entry for the run.
pub async fn run(
    with: &Sending<'_>,
    scope: Option<&str>,
    actor: &Actor,
    on_progress: &mut (dyn FnMut(&Report) + Send),
) -> Result<Report, SendError> {
    let Sending { db, surveys, clock, mailer } = *with;
    let _lock = acquire(db).await?;
    let mut report = Report::default();
    let at = clock.now();
    report.recovered = db.write(move |conn| outbox::recover_abandoned(conn, at)).await? as u64;
    if report.recovered > 0 {
        tracing::warn!(
            messages = report.recovered,
            "messages were left in `sending` by a stopped process; marked uncertain, not resent"
        );
    }
    let scope_owned = scope.map(str::to_string);
    let has_work = db.run(move |conn| outbox::has_queued(conn, scope_owned.as_deref())).await?;
    if !has_work {
        return Ok(report);
    }
    if let Err(reason) = mailer.reachable().await {
        return Err(SendError::Unreachable { server: mailer.server.to_string(), reason });
    }
    let quota =
        governor::Quota::per_minute(std::num::NonZeroU32::new(mailer.rate_per_minute.max(1)).expect("at least 1"))
            .allow_burst(std::num::NonZeroU32::MIN);
    let limiter = governor::RateLimiter::direct(quota);
    // Messages go over several connections at once: lettre writes a
    // message's final dot in a separate packet, so each connection waits on
    // TCP's delayed acknowledgement (about 40 ms) per message. Each message
    // is still claimed and recorded on its own, so a process killed mid-run
    // leaves at most one uncertain message per connection.
    let progress = std::sync::Mutex::new((report, on_progress));
    let stop: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let failure: std::sync::Mutex<Option<StorageError>> = std::sync::Mutex::new(None);
    let (progress_ref, stop_ref, failure_ref, limiter_ref) = (&progress, &stop, &failure, &limiter);
    let halted =
        move || stop_ref.lock().expect("not poisoned").is_some() || failure_ref.lock().expect("not poisoned").is_some();
    while !halted() {
        let scope_owned = scope.map(str::to_string);
        let at = clock.now();
        let due = db.run(move |conn| outbox::due(conn, scope_owned.as_deref(), at, 100)).await?;
        if due.is_empty() {
            break;
        }
        futures_util::stream::iter(due)
            .for_each_concurrent(PARALLEL_CONNECTIONS, |id| async move {
                if halted() {
                    return;
                }
                limiter_ref.until_ready().await;
                if halted() {
                    return;
                }
                let at = clock.now();
                let outcome = match db.write(move |conn| outbox::claim(conn, id, at)).await {
                    Ok(Claim::Gone) => return,
                    Ok(Claim::Cancelled(_)) => Ok((Done::Cancelled, None)),
                    Ok(Claim::Send(claimed)) => send_one(db, surveys, clock, mailer, &claimed).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok((done, halt)) => {
                        let mut guard = progress_ref.lock().expect("not poisoned");
                        let (report, on_progress) = &mut *guard;
                        done.count(report);
                        if let Some(why) = halt {
                            report.stopped.get_or_insert(why.clone());
                            *stop_ref.lock().expect("not poisoned") = Some(why);
                        }
                        on_progress(report);
                    }
                    Err(e) => {
                        failure_ref.lock().expect("not poisoned").get_or_insert(e);
                    }
                }
            })
            .await;
    }
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e.into());
    }
    let (report, _) = progress.into_inner().expect("not poisoned");
    if report.handled() > 0 || report.recovered > 0 {
        let actor = actor.clone();
        let event = Event::new(Action::InvitationsSent)
            .target(scope.map_or_else(|| "all surveys".to_string(), str::to_string))
            .detail(format!(
                "{}{}{}",
                report.summary(),
                if report.recovered > 0 {
                    format!("; {} left uncertain by a stopped run", report.recovered)
                } else {
                    String::new()
                },
                report.stopped.as_deref().map(|s| format!("; stopped: {s}")).unwrap_or_default()
            ));
        db.write(move |conn| audit::record(conn, &actor, &event, None)).await?;
    }
    Ok(report)
}

/// What became of one claimed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Sent(Kind),
    Failed,
    Uncertain,
    Cancelled,
    Later,
    /// Put back as it was: the server could not be reached.
    PutBack,
}

impl Done {
    fn count(self, report: &mut Report) {
        match self {
            Done::Sent(Kind::Invitation) => report.invitations_sent += 1,
            Done::Sent(Kind::Reminder) => report.reminders_sent += 1,
            Done::Failed => report.failed += 1,
            Done::Uncertain => report.uncertain += 1,
            Done::Cancelled => report.cancelled += 1,
            Done::Later => report.retry_later += 1,
            Done::PutBack => {}
        }
    }
}

/// Builds and sends one claimed message and records what happened, with
/// why the run must stop, if it must.
async fn send_one(
    db: &Db,
    surveys: &SurveyRegistry,
    clock: &Clock,
    mailer: &Mailer,
    claimed: &Claimed,
) -> Result<(Done, Option<String>), StorageError> {
    let (message, invitee, invitation) = (&claimed.message, &claimed.invitee, &claimed.invitation);
    let id = message.id;
    let today = clock.today();
    let Some(survey) = surveys.current(&message.survey_id, today) else {
        // Not open: wait for its opening date if it has one ahead, else it has closed.
        let opens = surveys
            .versions_of(&message.survey_id)
            .iter()
            .filter(|s| s.version.status == VersionStatus::Published)
            .filter_map(|s| s.version.opens_on.filter(|o| *o > today))
            .min();
        return match opens.and_then(|o| o.and_hms_opt(0, 0, 0)) {
            Some(at) => {
                db.write(move |conn| outbox::put_back(conn, id, "waiting for the survey to open", at)).await?;
                Ok((Done::Later, None))
            }
            None => {
                let at = clock.now();
                db.write(move |conn| outbox::cancel(conn, id, "the survey is closed", at)).await?;
                Ok((Done::Cancelled, None))
            }
        };
    };
    let (Some(address), Some(seed)) = (invitee.email.clone(), invitee.link_nonce.clone()) else {
        let at = clock.now();
        db.write(move |conn| outbox::cancel(conn, id, "the address has been erased", at)).await?;
        return Ok((Done::Cancelled, None));
    };
    let token = tokens::link_token(&mailer.secret, &seed);
    if tokens::hash(&token) != invitation.token_hash {
        // A key rotation under way (the new key is set, `joinedup keys
        // rekey-links` has not reached this invitation yet): wait and try
        // again, never cancel, or this person would never be invited.
        let reason = "waiting for a link under the current JOINEDUP_SECRET_KEY: run `joinedup keys rekey-links` with the previous key";
        let later = clock.now() + chrono::Duration::minutes(10);
        db.write(move |conn| outbox::put_back(conn, id, reason, later)).await?;
        return Ok((Done::Later, None));
    }
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, invitation.language.as_deref()).to_string();
    let kind = message.kind;
    let (link, opt_out) = links(&mailer.base_url, &token);
    let letter = Letter { survey: d, language: &language, kind, link: &link, opt_out: &opt_out };
    let built = email::render(&mailer.templates, &letter).map_err(|e| e.to_string()).and_then(|content| {
        let message_id = email::message_id(&mailer.from, id, invitation.id);
        email::message(&mailer.from, &address, &content, &opt_out, &message_id).map_err(|e| e.to_string())
    });
    let email = match built {
        Ok(email) => email,
        Err(reason) => {
            let at = clock.now();
            db.write(move |conn| outbox::mark_failed(conn, id, &reason, at)).await?;
            return Ok((Done::Failed, None));
        }
    };
    match mailer.transport.send(email).await {
        Ok(reply) => {
            let at = clock.now();
            db.write(move |conn| outbox::mark_sent(conn, id, &reply, at)).await?;
            Ok((Done::Sent(kind), None))
        }
        Err(e) => match classify(&e) {
            Failure::Refused(reason) => {
                let at = clock.now();
                db.write(move |conn| outbox::mark_failed(conn, id, &reason, at)).await?;
                Ok((Done::Failed, None))
            }
            Failure::Later(reason) if message.attempts >= MAX_ATTEMPTS => {
                let reason = format!("gave up after {MAX_ATTEMPTS} tries: {reason}");
                let at = clock.now();
                db.write(move |conn| outbox::mark_failed(conn, id, &reason, at)).await?;
                Ok((Done::Failed, None))
            }
            Failure::Later(reason) => {
                let at: NaiveDateTime = clock.now() + Duration::minutes(10 * i64::from(message.attempts));
                db.write(move |conn| outbox::retry_later(conn, id, &reason, at)).await?;
                Ok((Done::Later, None))
            }
            Failure::NotConnected(reason) => {
                let why = reason.clone();
                let at = clock.now();
                db.write(move |conn| outbox::put_back(conn, id, &why, at)).await?;
                Ok((Done::PutBack, Some(format!("cannot reach the mail server at {}: {reason}", mailer.server))))
            }
            Failure::Unknown(reason) => {
                let why = reason.clone();
                let at = clock.now();
                db.write(move |conn| outbox::mark_uncertain(conn, id, &why, at)).await?;
                let halt = mailer.reachable().await.err().map(|now_reason| {
                    format!(
                        "the connection to the mail server at {} broke ({reason}) and it cannot be reached now: {now_reason}",
                        mailer.server
                    )
                });
                Ok((Done::Uncertain, halt))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    #[tokio::test]
    async fn a_server_that_refuses_connections_is_not_connected() {
        // Port 9 on loopback: nothing listens there on a test machine.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(9).build();
        let email = lettre::Message::builder()
            .from("a@example.org".parse().unwrap())
            .to("b@example.org".parse().unwrap())
            .body(String::from("x"))
            .unwrap();
        let err = TransportError::Smtp(transport.send(email).await.unwrap_err());
        assert!(matches!(classify(&err), Failure::NotConnected(_)), "{err:?}");
    }
}
