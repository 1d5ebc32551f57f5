//! Password policy and hashing. Passwords are hashed with argon2id at the
//! argon2 crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommended
//! minimum), each with its own random salt, and kept only as the PHC string.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// Long enough for three random words, the NCSC's advice for a password
/// people can remember.
pub const MIN_LENGTH: usize = 12;
/// Hashing cost grows with length; nobody types more than this.
pub const MAX_LENGTH: usize = 256;

/// The 10,000 most common passwords, one a line (see data/README.md).
const COMMON: &str = include_str!("../../data/common-passwords.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("Enter a password")]
    Missing,
    #[error("Password must be {MIN_LENGTH} characters or more")]
    TooShort,
    #[error("Password must be {MAX_LENGTH} characters or fewer")]
    TooLong,
    #[error("Password is too common: choose one that is harder to guess, for example three random words")]
    Common,
    #[error("Password must not be your email address")]
    SameAsEmail,
}

/// Whether `password` may be set for the account `email`. Length counts
/// characters, not bytes, so every language is measured alike.
pub fn check(password: &str, email: &str) -> Result<(), PolicyError> {
    let length = password.chars().count();
    if length == 0 {
        return Err(PolicyError::Missing);
    }
    if length < MIN_LENGTH {
        return Err(PolicyError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PolicyError::TooLong);
    }
    let lower = password.trim().to_lowercase();
    if is_common(&lower) {
        return Err(PolicyError::Common);
    }
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || lower == local {
        return Err(PolicyError::SameAsEmail);
    }
    Ok(())
}

/// A linear scan of 10,000 short lines takes microseconds, far less than
/// the hash that follows, and needs no lazily built global set.
fn is_common(lower: &str) -> bool {
    COMMON.lines().any(|line| line == lower)
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

#[derive(Debug, thiserror::Error)]
#[error("the password could not be hashed: {0}")]
pub struct HashError(String);

/// The PHC string to store (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the stored hash. A malformed stored hash
/// never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    hasher().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Spends the time a real check would, for an email with no account, so the
/// response time does not tell whether the account exists.
pub fn waste_time(password: &str) {
    let _ = hash(password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check("", "a@b.org"), Err(PolicyError::Missing));
        assert_eq!(check("short", "a@b.org"), Err(PolicyError::TooShort));
        assert_eq!(check(&"x".repeat(MAX_LENGTH + 1), "a@b.org"), Err(PolicyError::TooLong));
        assert_eq!(check("qwerty123456", "a@b.org"), Err(PolicyError::Common));
        assert_eq!(check("QWERTY123456", "a@b.org"), Err(PolicyError::Common), "case does not help");
        assert_eq!(check("florence.nightingale", "Florence.Nightingale@nhs.net"), Err(PolicyError::SameAsEmail));
        assert_eq!(check("correct horse battery", "a@b.org"), Ok(()));
        // Characters, not bytes: twelve Welsh letters pass, six do not.
        assert_eq!(check("ŵŷâêîôŵŷâêîô", "a@b.org"), Ok(()));
        assert_eq!(check("ŵŷâêîô", "a@b.org"), Err(PolicyError::TooShort));
    }

    #[test]
    fn the_common_list_is_the_shipped_one() {
        assert_eq!(COMMON.lines().count(), 10_000);
        assert!(is_common("123456") && is_common("password") && !is_common("correct horse battery"));
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains("correct horse battery"));
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterz", &a));
        assert!(!verify("anything", "not a hash"));
    }
}
