//! The email settings: where mail goes (an SMTP URL, which may hold a
//! password and so never appears in logs), who it comes from, and the
//! reminder, rate and retention rules. Parsed once at start-up, so a typo
//! stops joinedup with a clear message instead of failing at the first send.

use std::time::Duration;

use anyhow::{Context, bail};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// How long one SMTP command may take before the attempt counts as broken.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// `smtp://user:pass@host:587?tls=required`, `smtps://…` or plain
/// `smtp://host:25` (loopback relays only): what lettre understands.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(raw: &str) -> anyhow::Result<SmtpUrl> {
        let raw = raw.trim();
        let parsed = url::Url::parse(raw).with_context(|| format!("JOINEDUP_SMTP_URL is not a URL: {}", mask(raw)))?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            bail!("JOINEDUP_SMTP_URL must start with smtp:// or smtps://, not `{}://`", parsed.scheme());
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            bail!("JOINEDUP_SMTP_URL has no host: {}", mask(raw));
        }
        let url = SmtpUrl(raw.to_string());
        // lettre's own parse, so an unknown `tls=` value is caught now.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| anyhow::anyhow!("JOINEDUP_SMTP_URL {} cannot be used: {e}", url))?;
        Ok(url)
    }

    /// A transport with joinedup's timeout and a small connection pool.
    pub fn transport(&self) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.0)
            .map_err(|e| anyhow::anyhow!("JOINEDUP_SMTP_URL {self} cannot be used: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build())
    }
}

/// The URL without its password, and how the connection is secured.
impl std::fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(url) = url::Url::parse(&self.0) else { return f.write_str("(unparsable URL)") };
        let security = match (url.scheme(), url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned())) {
            ("smtps", _) => "TLS",
            (_, Some(v)) if v == "required" => "STARTTLS required",
            (_, Some(v)) if v == "opportunistic" => "STARTTLS if offered",
            _ => "no encryption",
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let user = if url.username().is_empty() { String::new() } else { format!("{}@", url.username()) };
        write!(f, "{}://{user}{}{port} ({security})", url.scheme(), url.host_str().unwrap_or(""))
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

fn mask(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &raw[..s + 3], &raw[at..]),
        _ => raw.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct InvitationSettings {
    /// None: email is not set up; samples can still be imported.
    pub smtp: Option<SmtpUrl>,
    /// The From address; required when `smtp` is set.
    pub mail_from: Option<Mailbox>,
    /// Days after an invitation (or the last reminder) before a reminder may go.
    pub reminder_delay_days: u32,
    /// Messages handed to the mail server per minute, at most.
    pub send_rate_per_minute: u32,
    /// Days after a survey closes before its email addresses are erased.
    pub email_retention_days: u32,
}

impl Default for InvitationSettings {
    fn default() -> Self {
        InvitationSettings {
            smtp: None,
            mail_from: None,
            reminder_delay_days: 7,
            send_rate_per_minute: 300,
            email_retention_days: 30,
        }
    }
}

impl InvitationSettings {
    pub fn new(
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
        reminder_delay_days: u32,
        send_rate_per_minute: u32,
        email_retention_days: u32,
    ) -> anyhow::Result<Self> {
        let smtp = smtp_url.filter(|s| !s.trim().is_empty()).map(SmtpUrl::parse).transpose()?;
        let mail_from = match mail_from.filter(|s| !s.trim().is_empty()) {
            Some(from) => Some(from.trim().parse::<Mailbox>().map_err(|e| {
                anyhow::anyhow!(
                    "JOINEDUP_MAIL_FROM `{from}` is not an address like `Survey team <surveys@example.org>`: {e}"
                )
            })?),
            None => None,
        };
        if smtp.is_some() && mail_from.is_none() {
            bail!("JOINEDUP_SMTP_URL is set but JOINEDUP_MAIL_FROM is not: set the address invitations come from");
        }
        if send_rate_per_minute == 0 {
            bail!("JOINEDUP_SEND_RATE must be at least 1 message a minute");
        }
        Ok(InvitationSettings { smtp, mail_from, reminder_delay_days, send_rate_per_minute, email_retention_days })
    }

    /// The SMTP URL and From address, or why email cannot be sent.
    pub fn email(&self) -> Result<(&SmtpUrl, &Mailbox), &'static str> {
        match (&self.smtp, &self.mail_from) {
            (Some(url), Some(from)) => Ok((url, from)),
            _ => Err("email is not set up: set JOINEDUP_SMTP_URL and JOINEDUP_MAIL_FROM"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_passwords() {
        let url = SmtpUrl::parse("smtp://ann:s3cret@mail.example.org:587?tls=required").unwrap();
        assert_eq!(url.to_string(), "smtp://ann@mail.example.org:587 (STARTTLS required)");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(SmtpUrl::parse("smtps://mail.example.org").unwrap().to_string(), "smtps://mail.example.org (TLS)");
        assert!(SmtpUrl::parse("http://x").unwrap_err().to_string().contains("smtp://"));
        let err = SmtpUrl::parse("smtp://u:pw@host?tls=maybe").unwrap_err().to_string();
        assert!(!err.contains("pw@"), "{err}");
        let err = InvitationSettings::new(Some("smtp://127.0.0.1:2525"), None, 7, 60, 30).unwrap_err().to_string();
        assert!(err.contains("JOINEDUP_MAIL_FROM"), "{err}");
        let ok = InvitationSettings::new(Some("smtp://127.0.0.1:2525"), Some("Surveys <s@example.org>"), 7, 60, 30);
        assert!(ok.unwrap().email().is_ok());
    }
}
