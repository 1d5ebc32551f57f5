//! The settings joinedup runs with, once parsed (`cli::config` reads them
//! from flags and the environment). Plain values, passed explicitly and
//! never global; any module may take the ones it needs.

use std::path::PathBuf;

use anyhow::bail;

use crate::storage::DatabaseUrl;

/// Settings after parsing; passed explicitly, never global.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseUrl,
    /// `JOINEDUP_DATABASE_READ_URL`: a PostgreSQL streaming replica for
    /// analysts' reads, if any.
    pub database_read: Option<DatabaseUrl>,
    pub bind: String,
    pub definitions: PathBuf,
    pub base_url: String,
    /// `JOINEDUP_HSTS`: Strict-Transport-Security is sent when this is on
    /// and the base URL is https (see `sends_hsts`).
    pub hsts: bool,
    /// `JOINEDUP_METRICS`: count requests and serve `/metrics` (on), or
    /// neither (off).
    pub metrics: bool,
    pub secret_key: Option<SecretKey>,
    pub in_progress_days: u32,
    pub start_rate: u32,
    /// Staff session lifetimes and the sign-in rate limit.
    pub accounts: crate::accounts::AccountSettings,
    /// Email: SMTP server, sender, reminder delay, send rate, retention.
    pub invitations: crate::invitations::InvitationSettings,
    /// Disclosure control: estimates from fewer respondents are hidden.
    pub suppress_below: usize,
    /// Who is responsible for respondents' data, named in privacy notices.
    pub controller: Controller,
}

/// The data controller and how to reach it and its data protection
/// officer. Required to serve off loopback; a test or demo instance on
/// loopback may leave it unset, and its notices say so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controller {
    pub name: Option<String>,
    pub contact: Option<String>,
    pub dpo_contact: Option<String>,
}

impl Controller {
    pub fn is_complete(&self) -> bool {
        [&self.name, &self.contact, &self.dpo_contact]
            .iter()
            .all(|v| v.as_deref().is_some_and(|t| !t.trim().is_empty()))
    }
}

/// A secret that never appears in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(value: String) -> anyhow::Result<Self> {
        if value.len() < Self::MIN_LEN {
            bail!("JOINEDUP_SECRET_KEY must be at least {} characters (try `openssl rand -hex 32`)", Self::MIN_LEN);
        }
        Ok(SecretKey(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl Settings {
    /// HSTS only makes sense where the site is served over https.
    pub fn sends_hsts(&self) -> bool {
        self.hsts && self.base_url.starts_with("https://")
    }
}
