//! The rows a key rotation rewrites: each invitation's link hash (under
//! `JOINEDUP_SECRET_KEY`) and each kept address's hash (under the email
//! hash key), read and written a batch at a time by id.

use diesel::prelude::*;

use super::schema::{invitation_tokens, invitees};
use super::{DbConn, StorageError};

/// An invitee whose link can still be rebuilt: its seed, and the hash of
/// the link its invitation answers to now.
#[derive(Debug, Clone, Queryable)]
pub struct SeededLink {
    pub invitee_id: i64,
    pub invitation_id: i64,
    pub seed: String,
    pub token_hash: String,
}

/// Up to `limit` invitees after `after` (by id) that still hold a seed.
pub fn seeded_links_after(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<SeededLink>, StorageError> {
    let rows: Vec<(i64, i64, Option<String>, String)> = invitees::table
        .inner_join(invitation_tokens::table)
        .filter(invitees::id.gt(after))
        .filter(invitees::link_nonce.is_not_null())
        .order(invitees::id)
        .limit(limit)
        .select((invitees::id, invitees::invitation_id, invitees::link_nonce, invitation_tokens::token_hash))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(invitee_id, invitation_id, seed, token_hash)| {
            Some(SeededLink { invitee_id, invitation_id, seed: seed?, token_hash })
        })
        .collect())
}

/// Makes `current` the invitation's link hash, keeping `previous` (the
/// link already sent) as a second way in, or none.
pub fn set_link_hash(
    conn: &mut DbConn,
    invitation_id: i64,
    current: &str,
    previous: Option<&str>,
) -> Result<(), StorageError> {
    diesel::update(invitation_tokens::table.find(invitation_id))
        .set((invitation_tokens::token_hash.eq(current), invitation_tokens::previous_token_hash.eq(previous)))
        .execute(conn)?;
    Ok(())
}

/// The hash of the invitee's short code under the new key.
pub fn set_short_code_hash(
    conn: &mut DbConn,
    invitee_id: i64,
    hash: &str,
    previous: Option<&str>,
) -> Result<(), StorageError> {
    diesel::update(invitees::table.find(invitee_id))
        .set((invitees::short_code_hash.eq(hash), invitees::previous_short_code_hash.eq(previous)))
        .execute(conn)?;
    Ok(())
}

/// Links sent before the last rotation stop working; returns how many.
pub fn retire_previous_link_hashes(conn: &mut DbConn) -> Result<usize, StorageError> {
    diesel::update(invitees::table.filter(invitees::previous_short_code_hash.is_not_null()))
        .set(invitees::previous_short_code_hash.eq(None::<String>))
        .execute(conn)?;
    Ok(diesel::update(invitation_tokens::table.filter(invitation_tokens::previous_token_hash.is_not_null()))
        .set(invitation_tokens::previous_token_hash.eq(None::<String>))
        .execute(conn)?)
}

/// Up to `limit` invitees after `after` (by id) whose address is still kept.
pub fn kept_addresses_after(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<(i64, String)>, StorageError> {
    let rows: Vec<(i64, Option<String>)> = invitees::table
        .filter(invitees::id.gt(after))
        .filter(invitees::email.is_not_null())
        .order(invitees::id)
        .limit(limit)
        .select((invitees::id, invitees::email))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, email)| Some((id, email?))).collect())
}

/// Replaces one invitee's address hash.
pub fn set_email_key(conn: &mut DbConn, invitee_id: i64, key: &str) -> Result<(), StorageError> {
    diesel::update(invitees::table.find(invitee_id)).set(invitees::email_key.eq(key)).execute(conn)?;
    Ok(())
}
