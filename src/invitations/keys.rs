//! Rotating the two keys invitations use.
//!
//! - **Links** are HMACs of a per-invitee seed under `JOINEDUP_SECRET_KEY`.
//!   After a new key is set, [`rekey_links`] gives every invitation whose
//!   seed is still kept a link under the new key (so reminders carry a link
//!   that works), and keeps the hash of the link already sent as a second
//!   way in until [`retire_old_links`]. Seeds are erased with addresses, so
//!   an invitation whose address is gone keeps only its old link.
//! - **Email hashes** are HMACs of addresses under the email hash key, kept
//!   in the database. [`rotate_email_key`] retires the key (kept, for
//!   lookups) and re-hashes every address still held. Opt-outs and past
//!   samples whose addresses are erased cannot be re-hashed, so lookups try
//!   every retired key too ([`EmailKeys::hashes`]).
//!
//! Each runs in batches of [`BATCH`] rows, one short write transaction each,
//! so respondents' saves go through meanwhile; a rotation stopped part way
//! is finished by running it again.

use crate::audit::{self, Action, Actor, Event};
use crate::storage::{DbConn, StorageError, app_settings, key_rotation, write_transaction};

use super::import::EMAIL_KEY_SETTING;
use crate::tokens;

/// Rows rewritten per transaction.
pub const BATCH: i64 = 250;

/// What a pause between batches leaves for the server's writer (SQLite's
/// lock is not fair to a waiting writer).
const BETWEEN_BATCHES: std::time::Duration = std::time::Duration::from_millis(3);

/// The `app_settings` names of retired email hash keys start with this,
/// then the time they were retired.
const RETIRED_EMAIL_KEY: &str = "email_hash_key.retired.";

/// The email hash key in use and those retired before it.
#[derive(Debug, Clone)]
pub struct EmailKeys {
    pub current: String,
    pub retired: Vec<String>,
}

impl EmailKeys {
    /// The keys, generating the first one on first use.
    pub fn load(conn: &mut DbConn) -> Result<EmailKeys, StorageError> {
        let current = app_settings::generated(conn, EMAIL_KEY_SETTING)?;
        let retired = app_settings::with_prefix(conn, RETIRED_EMAIL_KEY)?.into_iter().map(|(_, v)| v).collect();
        Ok(EmailKeys { current, retired })
    }

    /// `email`'s hash under the current key: what is stored from now on.
    pub fn hash(&self, email: &str) -> String {
        tokens::email_key(&self.current, email)
    }

    /// `email`'s hash under every key, current first: what it may be
    /// stored as (an opt-out from before a rotation, say).
    pub fn hashes(&self, email: &str) -> Vec<String> {
        std::iter::once(&self.current).chain(&self.retired).map(|k| tokens::email_key(k, email)).collect()
    }
}

/// What [`rekey_links`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinksRekeyed {
    /// Invitations given a link under the new key (the old one still works).
    pub rekeyed: usize,
    /// Already under the new key (a rotation run again).
    pub current: usize,
    /// Under neither key: left alone, and named in the count so an operator
    /// who gave the wrong previous key can see it.
    pub unknown: usize,
}

/// Gives every invitation with a kept seed a link under `new_secret`,
/// keeping the link sent under `previous_secret` working.
pub fn rekey_links(
    conn: &mut DbConn,
    previous_secret: &str,
    new_secret: &str,
    actor: &Actor,
) -> Result<LinksRekeyed, StorageError> {
    let mut done = LinksRekeyed::default();
    let mut after = 0;
    loop {
        let batch = key_rotation::seeded_links_after(conn, after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.invitee_id;
        write_transaction(conn, |conn| {
            for link in &batch {
                let new = tokens::hash(&tokens::link_token(new_secret, &link.seed));
                let old = tokens::hash(&tokens::link_token(previous_secret, &link.seed));
                if link.token_hash == new {
                    done.current += 1;
                } else if link.token_hash == old {
                    key_rotation::set_link_hash(conn, link.invitation_id, &new, Some(&old))?;
                    // The short code follows the new key; a code printed
                    // before the rotation works until old links retire.
                    let code = tokens::short_code_hash(&tokens::short_code(new_secret, &link.seed));
                    let was = tokens::short_code_hash(&tokens::short_code(previous_secret, &link.seed));
                    key_rotation::set_short_code_hash(conn, link.invitee_id, &code, Some(&was))?;
                    done.rekeyed += 1;
                } else {
                    done.unknown += 1;
                }
            }
            Ok::<_, StorageError>(())
        })?;
        std::thread::sleep(BETWEEN_BATCHES);
    }
    let event = Event::new(Action::KeysRotated).target("invitation links").detail(format!(
        "{} link(s) re-keyed, {} already under the new key, {} under neither key",
        done.rekeyed, done.current, done.unknown
    ));
    audit::record(conn, actor, &event, None)?;
    Ok(done)
}

/// Links sent before the last [`rekey_links`] stop working, and the key
/// kept in the database (the loopback fallback) is deleted, since links
/// are no longer made with it. Returns how many links were retired.
pub fn retire_old_links(conn: &mut DbConn, actor: &Actor) -> Result<usize, StorageError> {
    write_transaction(conn, |conn| {
        let retired = key_rotation::retire_previous_link_hashes(conn)?;
        app_settings::delete(conn, app_settings::SECRET_KEY)?;
        let event = Event::new(Action::KeysRotated)
            .target("invitation links")
            .detail(format!("{retired} link(s) sent before the last rotation no longer work"));
        audit::record(conn, actor, &event, None)?;
        Ok(retired)
    })
}

/// What [`rotate_email_key`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmailKeyRotated {
    /// Addresses still held, re-hashed under the new key.
    pub rehashed: usize,
    /// Keys now retired (kept for looking up erased addresses' hashes).
    pub retired_keys: usize,
}

/// Retires the email hash key for a fresh one and re-hashes every address
/// still held. Lookups use every key meanwhile, so imports and opt-outs
/// stay right while it runs.
pub fn rotate_email_key(conn: &mut DbConn, actor: &Actor) -> Result<EmailKeyRotated, StorageError> {
    let keys = write_transaction(conn, |conn| {
        let old = app_settings::generated(conn, EMAIL_KEY_SETTING)?;
        let stamp = crate::storage::now().format("%Y%m%dT%H%M%S%.6f");
        app_settings::set(conn, &format!("{RETIRED_EMAIL_KEY}{stamp}"), &old)?;
        // Only if no other rotation replaced it meanwhile: two at once must
        // not lose a key some hashes were made with.
        if !app_settings::replace_if(conn, EMAIL_KEY_SETTING, &old, &app_settings::random_value())? {
            return Err(StorageError::Conflict("another email key rotation ran at the same time; run it again".into()));
        }
        EmailKeys::load(conn)
    })?;
    let mut rehashed = 0;
    let mut after = 0;
    loop {
        let batch = key_rotation::kept_addresses_after(conn, after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        write_transaction(conn, |conn| {
            for (id, email) in &batch {
                key_rotation::set_email_key(conn, *id, &keys.hash(email))?;
            }
            Ok::<_, StorageError>(())
        })?;
        rehashed += batch.len();
        std::thread::sleep(BETWEEN_BATCHES);
    }
    let done = EmailKeyRotated { rehashed, retired_keys: keys.retired.len() };
    let event = Event::new(Action::KeysRotated).target("email hash key").detail(format!(
        "{} address(es) re-hashed; {} retired key(s) kept for erased addresses",
        done.rehashed, done.retired_keys
    ));
    audit::record(conn, actor, &event, None)?;
    Ok(done)
}
