//! Limits on what anyone may do without signing in, per client address:
//! starting open-link responses and trying resume codes. Attempts are
//! counted in the database (`storage::rate_limits`), so the limit is the
//! same with one instance or ten, and each attempt is reserved before it
//! is acted on, so parallel requests cannot overrun it.

use std::net::IpAddr;

use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::storage::{Db, StorageError, now, rate_limits};

/// How long an attempt counts against its address.
pub const WINDOW_MINUTES: i64 = 1;

/// One kind of attempt and how many an address may make a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLimit {
    pub bucket: &'static str,
    pub per_minute: u32,
}

impl AddressLimit {
    /// Open-link starts: `JOINEDUP_START_RATE` a minute (default 30).
    pub fn start(per_minute: u32) -> Self {
        AddressLimit { bucket: "start", per_minute }
    }

    /// Typed resume codes: 10 a minute, far below what guessing needs.
    pub fn resume() -> Self {
        AddressLimit { bucket: "resume", per_minute: 10 }
    }

    /// Codes typed from a letter at `/s`: the same guard as resume codes.
    pub fn letter_code() -> Self {
        AddressLimit { bucket: "letter_code", per_minute: 10 }
    }
}

/// The key an address is counted under: an HMAC, so the table holds no
/// addresses.
fn key(secret: &str, bucket: &str, ip: IpAddr) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(bucket.as_bytes());
    mac.update(b":");
    mac.update(ip.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Reserves one attempt for `ip`; false means the address is over its limit.
pub async fn allow(db: &Db, secret: &str, limit: AddressLimit, ip: IpAddr) -> Result<bool, StorageError> {
    let key = key(secret, limit.bucket, ip);
    let at = now();
    let since = at - Duration::minutes(WINDOW_MINUTES);
    db.write(move |conn| rate_limits::reserve(conn, limit.bucket, &key, limit.per_minute, since, at)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hide_the_address_and_differ_by_bucket() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = key("s", "start", ip);
        assert!(!a.contains("192"));
        assert_ne!(a, key("s", "resume", ip));
        assert_ne!(a, key("t", "start", ip));
        assert_eq!(a, key("s", "start", ip));
    }
}
