//! Sessions and personal API tokens: random secrets handed to the browser
//! or script, stored only as their SHA-256 hash, with the rules for when a
//! session has ended.

use chrono::{Duration, NaiveDateTime};
use rand::RngCore;

use crate::tokens;

/// How long a session lasts: it ends after `idle` without a request, and
/// after `absolute` whatever happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes { idle: Duration::minutes(30), absolute: Duration::hours(12) }
    }
}

/// `last_seen_at` is written at most this often, so a page with many
/// requests costs one write, not one per request. Idle expiry is therefore
/// exact to within this much.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The prefix of every personal API token: lets secret scanners and people
/// recognise one that has leaked.
pub const API_TOKEN_PREFIX: &str = "joinedup_";

/// 256 random bits, hex encoded: the session id put in the cookie.
pub fn new_session_id() -> String {
    random_hex()
}

/// A personal API token, like `joinedup_3f9a…` (256 random bits).
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_hex())
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored in place of a session id or API token. The secrets are
/// random 256-bit values, so a fast hash cannot be reversed by guessing.
pub fn hash(secret: &str) -> String {
    tokens::hash(secret)
}

/// What a stored session's times say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Still valid; `touch` says `last_seen_at` should be brought up to date.
    Live {
        touch: bool,
    },
    Expired,
}

pub fn standing(
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    now: NaiveDateTime,
    lifetimes: Lifetimes,
) -> Standing {
    if now >= created_at + lifetimes.absolute || now >= last_seen_at + lifetimes.idle {
        return Standing::Expired;
    }
    Standing::Live { touch: now >= last_seen_at + TOUCH_EVERY }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_expiry() {
        let lifetimes = Lifetimes { idle: Duration::minutes(30), absolute: Duration::hours(12) };
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap().and_hms_opt(9, 0, 0).unwrap();
        let at = |minutes: i64| start + Duration::minutes(minutes);
        assert_eq!(standing(start, start, at(0), lifetimes), Standing::Live { touch: false });
        assert_eq!(standing(start, start, at(2), lifetimes), Standing::Live { touch: true });
        assert_eq!(standing(start, start, at(30), lifetimes), Standing::Expired, "idle for 30 minutes");
        assert_eq!(standing(start, at(700), at(719), lifetimes), Standing::Live { touch: true });
        assert_eq!(standing(start, at(719), at(720), lifetimes), Standing::Expired, "12 hours after sign-in");
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        assert_eq!(new_session_id().len(), 64);
        assert_ne!(new_session_id(), new_session_id());
        let token = new_api_token();
        assert!(token.starts_with(API_TOKEN_PREFIX));
        assert_eq!(hash(&token).len(), 64);
        assert_ne!(hash(&token), token);
    }
}
