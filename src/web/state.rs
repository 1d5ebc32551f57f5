//! The state every request handler shares, built once at start-up
//! (`app::prepare`) and handed to the server.

use std::sync::Arc;

use crate::settings::{SecretKey, Settings};
use crate::storage::{self, Db};

use super::ResponseCache;

/// Everything a request handler may use.
pub struct AppState {
    pub db: Db,
    pub surveys: Arc<crate::surveys::SurveyRegistry>,
    pub settings: Settings,
    pub secret: SecretKey,
    /// Signs the respondent's response cookie; derived from the secret.
    pub cookie_key: actix_web::cookie::Key,
    pub templates: handlebars::Handlebars<'static>,
    /// The dated ICS list, filtered by date where it is used.
    pub icss: Vec<storage::icss::Ics>,
    /// Published releases already read (they never change).
    pub releases: crate::results::reports::ReleaseCache,
    /// Request counts and the rest of `/metrics`; `None` when turned off.
    pub metrics: Option<crate::web::metrics::Metrics>,
    /// Responses being answered, kept between their pages.
    pub responses: ResponseCache,
    /// Sends invitations and reminders; `None` when email is not set up.
    pub mailer: Option<Arc<crate::invitations::send::Mailer>>,
    /// The one clock every handler asks for the time and the date.
    pub clock: crate::clock::Clock,
    /// Set while `serve --demo` loads its demo responses behind a server
    /// that already answers; `/healthz` says `loading` until it clears.
    pub loading: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// What the invitation sender and the erasure job need.
    pub fn background(&self) -> crate::invitations::background::Background {
        crate::invitations::background::Background {
            db: self.db.clone(),
            surveys: self.surveys.clone(),
            mailer: self.mailer.clone(),
            email_retention_days: self.settings.invitations.email_retention_days,
            clock: self.clock.clone(),
        }
    }
}
