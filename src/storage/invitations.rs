//! Invitation tokens: each carries its survey and may preset the ICS, voice,
//! language and sample strata. Only a hash of the token is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::invitation_tokens;
use super::{DbConn, StorageError};
use crate::per_backend;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = invitation_tokens)]
pub struct Invitation {
    pub id: i64,
    pub token_hash: String,
    pub survey_id: String,
    pub ics_code: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub imd_quintile: Option<i32>,
    /// Base weight = 1 / selection probability.
    pub selection_probability: Option<f64>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = invitation_tokens)]
pub struct NewInvitation {
    pub token_hash: String,
    pub survey_id: String,
    pub ics_code: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub imd_quintile: Option<i32>,
    pub selection_probability: Option<f64>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

/// Inserts many tokens in one statement (batch inserts go per backend:
/// `MultiConnection` cannot express them).
pub fn insert(conn: &mut DbConn, new: &[NewInvitation]) -> Result<usize, StorageError> {
    let mut written = 0;
    for chunk in new.chunks(500) {
        written += per_backend!(conn => { diesel::insert_into(invitation_tokens::table).values(chunk).execute(conn)? });
    }
    Ok(written)
}

/// The invitation whose token hashes to `hash`, unless it has expired: its
/// current link, or the one sent before the secret key was rotated.
pub fn by_hash(conn: &mut DbConn, hash: &str, now: NaiveDateTime) -> Result<Option<Invitation>, StorageError> {
    Ok(invitation_tokens::table
        .filter(invitation_tokens::token_hash.eq(hash).or(invitation_tokens::previous_token_hash.eq(hash)))
        .filter(invitation_tokens::expires_at.is_null().or(invitation_tokens::expires_at.gt(now)))
        .select(Invitation::as_select())
        .get_result(conn)
        .optional()?)
}

/// Inserts one token and returns its id.
pub fn create(conn: &mut DbConn, new: &NewInvitation) -> Result<i64, StorageError> {
    Ok(diesel::insert_into(invitation_tokens::table).values(new).returning(invitation_tokens::id).get_result(conn)?)
}
