//! Secrets handed to respondents: invitation tokens and resume links (160
//! random bits), resume codes short enough to write down, and references to
//! quote. Only their SHA-256 hashes are stored.

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
        assert_eq!(hash("a").len(), 64);
    }
}
