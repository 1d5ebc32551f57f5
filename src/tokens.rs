//! Secrets handed to respondents: invitation tokens and resume links (160
//! random bits), resume codes short enough to write down, and references to
//! quote. Only their SHA-256 hashes are stored.
//!
//! An emailed invitation's token is derived instead: an HMAC, under the
//! app's secret key, of a random 128-bit seed kept with the invitee. So a
//! reminder, or a send resumed after a crash, carries the same link without
//! the database ever holding the token: someone who can read the database
//! but not the secret cannot rebuild a link.

use rand::Rng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Letters and digits that cannot be mistaken for each other (no 0/O, 1/I/L, U/V).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZ23456789";

/// A token for a link: 160 random bits as 40 hex characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored in place of a token or code.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh seed for a derived invitation token: 128 random bits, as hex.
pub fn new_link_seed() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The invitation token for `seed` under `secret`: 160 bits, as 40 hex
/// characters, the same shape as a random token.
pub fn link_token(secret: &str, seed: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"joinedup invitation link:");
    mac.update(seed.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..20])
}

/// The short code printed on a letter and a paper questionnaire, typed at
/// `/s` and keyed by data entry: derived from the link seed like the link
/// itself (so printing again gives the same code), under its own label.
/// 11 characters of a 29-letter alphabet: 53 bits, shown as `ABCD-EFGH-JKM`.
pub fn short_code(secret: &str, seed: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"joinedup short code:");
    mac.update(seed.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut n = u128::from_be_bytes(bytes[..16].try_into().expect("16 bytes"));
    let radix = CODE_ALPHABET.len() as u128;
    let chars: String = (0..SHORT_CODE_LENGTH)
        .map(|_| {
            let c = CODE_ALPHABET[(n % radix) as usize] as char;
            n /= radix;
            c
        })
        .collect();
    format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..])
}

/// Characters in a short code: 29^11 is about 2^53.
pub const SHORT_CODE_LENGTH: usize = 11;

/// What is stored for a short code, however it was typed.
pub fn short_code_hash(typed: &str) -> String {
    hash(&format!("short:{}", normalise_code(typed)))
}

/// A keyed hash of an email address, compared without case or spaces: the
/// same person found twice, and opt-outs, without keeping the address.
pub fn email_key(key: &str, email: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"joinedup email:");
    mac.update(email.trim().to_lowercase().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn code_chars(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// A resume code like `K7PQA-X2M9R` (about 48 bits).
pub fn new_resume_code() -> String {
    let chars = code_chars(10);
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A typed code made comparable: upper case, spaces and dashes removed.
pub fn normalise_code(typed: &str) -> String {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// The reference a respondent quotes to withdraw, like `JU-7KPQ-X2MR`.
pub fn new_reference() -> String {
    let chars = code_chars(8);
    format!("JU-{}-{}", &chars[..4], &chars[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(new_token().len(), 40);
        assert_ne!(new_token(), new_token());
        let code = new_resume_code();
        assert_eq!(code.len(), 11);
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")), code.replace('-', ""));
        assert!(new_reference().starts_with("JU-"));
        let code = short_code("secret", "seed");
        assert_eq!((code.len(), &code[4..5], &code[9..10]), (13, "-", "-"));
        assert_eq!(code, short_code("secret", "seed"));
        assert_ne!(code, short_code("secret", "seed2"));
        assert_ne!(code, short_code("other", "seed"));
        assert_eq!(short_code_hash(&code.to_lowercase().replace('-', " ")), short_code_hash(&code));
        // At least 50 bits, as a letter's code must carry.
        assert!((CODE_ALPHABET.len() as f64).log2() * SHORT_CODE_LENGTH as f64 >= 50.0);
        assert_eq!(hash("a").len(), 64);
    }

    #[test]
    fn derived_tokens_need_the_secret() {
        let seed = new_link_seed();
        assert_eq!(seed.len(), 32);
        let token = link_token("secret one", &seed);
        assert_eq!(token.len(), 40);
        assert_eq!(token, link_token("secret one", &seed), "the same link every time");
        assert_ne!(token, link_token("secret two", &seed));
        assert_ne!(token, link_token("secret one", &new_link_seed()));
        assert_eq!(email_key("k", " Ann@Example.org "), email_key("k", "ann@example.org"));
        assert_ne!(email_key("k", "ann@example.org"), email_key("other", "ann@example.org"));
    }
}
