//! Samples and invitees: who was invited to a survey. Each invitee has one
//! invitation token row (survey, ICS, voice, language and the strata
//! weighting needs) and an email that is erased after the retention period.
//! Opt-outs are kept apart, as keyed hashes, so they outlive the erasure.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{AsExpression, FromSqlRow};
use strum::{EnumString, IntoStaticStr};

use super::invitations::NewInvitation;
use super::outbox::Status;
use super::schema::{invitation_tokens, invitees, opt_outs, outbox, samples};
use super::stored_as_text::stored_as_text;
use super::{DbConn, StorageError, write_transaction};
use crate::per_backend;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = samples)]
pub struct Sample {
    pub id: i64,
    pub survey_id: String,
    pub source_name: String,
    pub file_hash: Option<String>,
    pub rows_imported: i32,
    pub rows_skipped: i32,
    /// Who imported it: an email, or `command line`.
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub emails_erased_at: Option<NaiveDateTime>,
    /// False while its batches are still being written: nothing is sent
    /// to a sample until it is complete.
    pub complete: bool,
    /// Returned paper forms are keyed twice, blind, by two keyers.
    pub double_entry: bool,
}

/// How a sampled person is to be contacted: by email, or by letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow, IntoStaticStr, EnumString)]
#[diesel(sql_type = Text)]
#[strum(serialize_all = "snake_case")]
pub enum Contact {
    Email,
    Letter,
}
stored_as_text!(Contact);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = invitees)]
pub struct Invitee {
    pub id: i64,
    pub sample_id: i64,
    pub invitation_id: i64,
    pub survey_id: String,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub link_nonce: Option<String>,
    /// The line of the uploaded file this person came from.
    pub line: i32,
    pub opted_out_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// A postal address, its lines separated by newlines; erased with the
    /// email address.
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub preferred_channel: Contact,
    /// The hash of the code on letters and paper questionnaires.
    pub short_code_hash: Option<String>,
}

/// A sample about to be written.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub survey_id: String,
    pub source_name: String,
    pub file_hash: String,
    pub rows_skipped: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub double_entry: bool,
}

/// One person of a sample: their token row and their contact details.
#[derive(Debug, Clone)]
pub struct NewInvitee {
    pub invitation: NewInvitation,
    pub email: Option<String>,
    /// The keyed hash of the email address, or of the postal address for
    /// someone with none: what finds the same person again.
    pub email_key: String,
    pub link_nonce: String,
    pub line: i32,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub preferred_channel: Contact,
    pub short_code_hash: String,
}

#[derive(Insertable)]
#[diesel(table_name = invitees)]
struct InviteeRow<'a> {
    sample_id: i64,
    invitation_id: i64,
    survey_id: &'a str,
    email: Option<&'a str>,
    email_key: Option<&'a str>,
    link_nonce: Option<&'a str>,
    line: i32,
    created_at: NaiveDateTime,
    address: Option<&'a str>,
    postcode: Option<&'a str>,
    preferred_channel: Contact,
    short_code_hash: Option<&'a str>,
}

/// Rows per batch insert: well under SQLite's limit on bound parameters.
const CHUNK: usize = 500;

/// Starts a sample of `rows` people: its row, not yet complete.
pub fn begin_import(conn: &mut DbConn, sample: &NewSample, rows: usize) -> Result<Sample, StorageError> {
    Ok(diesel::insert_into(samples::table)
        .values((
            samples::survey_id.eq(&sample.survey_id),
            samples::source_name.eq(&sample.source_name),
            samples::file_hash.eq(&sample.file_hash),
            samples::rows_imported.eq(rows as i32),
            samples::rows_skipped.eq(sample.rows_skipped),
            samples::created_by.eq(&sample.created_by),
            samples::created_at.eq(sample.created_at),
            samples::complete.eq(false),
            samples::double_entry.eq(sample.double_entry),
        ))
        .returning(samples::all_columns)
        .get_result(conn)?)
}

/// Writes one batch of a sample's people: their invitation tokens and rows.
pub fn import_batch(conn: &mut DbConn, sample: &Sample, people: &[NewInvitee]) -> Result<(), StorageError> {
    for chunk in people.chunks(CHUNK) {
        let tokens: Vec<NewInvitation> = chunk.iter().map(|p| p.invitation.clone()).collect();
        let ids: Vec<(i64, String)> = per_backend!(conn => {
            diesel::insert_into(invitation_tokens::table)
                .values(&tokens)
                .returning((invitation_tokens::id, invitation_tokens::token_hash))
                .get_results(conn)?
        });
        let by_hash: BTreeMap<String, i64> = ids.into_iter().map(|(id, hash)| (hash, id)).collect();
        let rows: Vec<InviteeRow<'_>> = chunk
            .iter()
            .map(|p| {
                let invitation_id = by_hash.get(&p.invitation.token_hash).copied().ok_or_else(|| {
                    StorageError::Pool("an invitation token row was not returned by the insert".into())
                })?;
                Ok(InviteeRow {
                    sample_id: sample.id,
                    invitation_id,
                    survey_id: &sample.survey_id,
                    email: p.email.as_deref(),
                    email_key: Some(&p.email_key),
                    link_nonce: Some(&p.link_nonce),
                    line: p.line,
                    created_at: sample.created_at,
                    address: p.address.as_deref(),
                    postcode: p.postcode.as_deref(),
                    preferred_channel: p.preferred_channel,
                    short_code_hash: Some(&p.short_code_hash),
                })
            })
            .collect::<Result<_, StorageError>>()?;
        per_backend!(conn => { diesel::insert_into(invitees::table).values(&rows).execute(conn)? });
    }
    Ok(())
}

/// Marks a sample complete: from now on its people can be invited.
pub fn finish_import(conn: &mut DbConn, sample_id: i64) -> Result<Sample, StorageError> {
    Ok(diesel::update(samples::table.find(sample_id))
        .set(samples::complete.eq(true))
        .returning(samples::all_columns)
        .get_result(conn)?)
}

/// Removes an import that failed part way: its people, their tokens and
/// the sample, so nothing of it stays half-written.
pub fn abandon_import(conn: &mut DbConn, sample_id: i64) -> Result<(), StorageError> {
    write_transaction(conn, |conn| {
        let tokens: Vec<i64> =
            invitees::table.filter(invitees::sample_id.eq(sample_id)).select(invitees::invitation_id).load(conn)?;
        diesel::delete(invitees::table.filter(invitees::sample_id.eq(sample_id))).execute(conn)?;
        for chunk in tokens.chunks(CHUNK) {
            diesel::delete(invitation_tokens::table.filter(invitation_tokens::id.eq_any(chunk))).execute(conn)?;
        }
        diesel::delete(samples::table.find(sample_id)).execute(conn)?;
        Ok(())
    })
}

/// Samples begun before `before` and never completed: left by a process
/// that stopped part way through an import.
pub fn incomplete_before(conn: &mut DbConn, before: NaiveDateTime) -> Result<Vec<i64>, StorageError> {
    Ok(samples::table
        .filter(samples::complete.eq(false))
        .filter(samples::created_at.lt(before))
        .select(samples::id)
        .load(conn)?)
}

/// Of `keys`, those already invited to `survey_id` (in any sample).
pub fn invited_keys(conn: &mut DbConn, survey_id: &str, keys: &[String]) -> Result<BTreeSet<String>, StorageError> {
    let mut found = BTreeSet::new();
    for chunk in keys.chunks(CHUNK) {
        let hits: Vec<Option<String>> = invitees::table
            .filter(invitees::survey_id.eq(survey_id))
            .filter(invitees::email_key.eq_any(chunk))
            .select(invitees::email_key)
            .load(conn)?;
        found.extend(hits.into_iter().flatten());
    }
    Ok(found)
}

/// Of `keys`, those that opted out of `survey_id`.
pub fn opted_out_keys(conn: &mut DbConn, survey_id: &str, keys: &[String]) -> Result<BTreeSet<String>, StorageError> {
    let mut found = BTreeSet::new();
    for chunk in keys.chunks(CHUNK) {
        let hits: Vec<String> = opt_outs::table
            .filter(opt_outs::survey_id.eq(survey_id))
            .filter(opt_outs::email_key.eq_any(chunk))
            .select(opt_outs::email_key)
            .load(conn)?;
        found.extend(hits);
    }
    Ok(found)
}

/// A sample of `survey_id` imported from a file with this hash, if any.
pub fn by_file_hash(conn: &mut DbConn, survey_id: &str, file_hash: &str) -> Result<Option<Sample>, StorageError> {
    Ok(samples::table
        .filter(samples::survey_id.eq(survey_id))
        .filter(samples::file_hash.eq(file_hash))
        .select(Sample::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

/// The samples of a survey, newest first.
pub fn samples_of(conn: &mut DbConn, survey_id: &str) -> Result<Vec<Sample>, StorageError> {
    Ok(samples::table
        .filter(samples::survey_id.eq(survey_id))
        .order(samples::id.desc())
        .select(Sample::as_select())
        .load(conn)?)
}

/// The survey ids that still hold email addresses (or their hashes).
pub fn surveys_with_emails(conn: &mut DbConn) -> Result<Vec<String>, StorageError> {
    Ok(samples::table.filter(samples::emails_erased_at.is_null()).select(samples::survey_id).distinct().load(conn)?)
}

/// The invitee behind an invitation token, if it came from a sample.
pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<Invitee>, StorageError> {
    Ok(invitees::table.find(id).select(Invitee::as_select()).first(conn).optional()?)
}

/// The invitee of `survey_id` whose contact key is one of `hashes` (the
/// same key under the current and retired email keys).
pub fn by_contact_keys(conn: &mut DbConn, survey_id: &str, hashes: &[String]) -> Result<Option<Invitee>, StorageError> {
    Ok(invitees::table
        .filter(invitees::survey_id.eq(survey_id))
        .filter(invitees::email_key.eq_any(hashes))
        .select(Invitee::as_select())
        .order(invitees::id.desc())
        .first(conn)
        .optional()?)
}

/// The invitee a short code (printed on a letter or questionnaire) names,
/// under the current key or, until old links are retired, the previous one.
pub fn by_short_code_hash(conn: &mut DbConn, hash: &str) -> Result<Option<Invitee>, StorageError> {
    Ok(invitees::table
        .filter(invitees::short_code_hash.eq(hash).or(invitees::previous_short_code_hash.eq(hash)))
        .select(Invitee::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_invitation(conn: &mut DbConn, invitation_id: i64) -> Result<Option<Invitee>, StorageError> {
    Ok(invitees::table
        .filter(invitees::invitation_id.eq(invitation_id))
        .select(Invitee::as_select())
        .get_result(conn)
        .optional()?)
}

/// Records an opt-out: the keyed hash for the survey (kept for good), the
/// invitee's flag, and every message still queued for them cancelled.
/// Returns false when they had already opted out.
pub fn opt_out(conn: &mut DbConn, invitee: &Invitee, at: NaiveDateTime) -> Result<bool, StorageError> {
    if let Some(key) = &invitee.email_key {
        per_backend!(conn => {
            diesel::insert_into(opt_outs::table)
                .values((opt_outs::survey_id.eq(&invitee.survey_id), opt_outs::email_key.eq(key), opt_outs::created_at.eq(at)))
                .on_conflict_do_nothing()
                .execute(conn)?;
        });
    }
    let newly = diesel::update(invitees::table.find(invitee.id).filter(invitees::opted_out_at.is_null()))
        .set(invitees::opted_out_at.eq(at))
        .execute(conn)?
        == 1;
    diesel::update(outbox::table.filter(outbox::invitee_id.eq(invitee.id)).filter(outbox::status.eq(Status::Queued)))
        .set((outbox::status.eq(Status::Cancelled), outbox::error.eq("opted out"), outbox::finished_at.eq(at)))
        .execute(conn)?;
    // The addresses were only kept to write to them; they asked us not to.
    diesel::update(invitees::table.find(invitee.id))
        .set((
            invitees::email.eq(None::<String>),
            invitees::link_nonce.eq(None::<String>),
            invitees::address.eq(None::<String>),
            invitees::postcode.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(newly)
}

/// Erases one invitee's address and link seed as soon as they are no longer
/// needed (the invitee responded or opted out), cancelling anything still
/// queued for them. The keyed hash stays: it is what finds them again in a
/// later sample and keeps an opt-out. Returns whether an address was held.
pub fn erase_invitee_address(conn: &mut DbConn, invitation_id: i64, at: NaiveDateTime) -> Result<bool, StorageError> {
    let mine = invitees::table.filter(invitees::invitation_id.eq(invitation_id));
    let ids: Vec<i64> = mine.select(invitees::id).load(conn)?;
    let held = invitees::email.is_not_null().or(invitees::link_nonce.is_not_null()).or(invitees::address.is_not_null());
    let erased = diesel::update(mine.filter(held))
        .set((
            invitees::email.eq(None::<String>),
            invitees::link_nonce.eq(None::<String>),
            invitees::address.eq(None::<String>),
            invitees::postcode.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::update(outbox::table.filter(outbox::invitee_id.eq_any(&ids)).filter(outbox::status.eq(Status::Queued)))
        .set((outbox::status.eq(Status::Cancelled), outbox::error.eq("no longer needed"), outbox::finished_at.eq(at)))
        .execute(conn)?;
    diesel::update(outbox::table.filter(outbox::invitee_id.eq_any(&ids)))
        .set((outbox::error.eq(None::<String>), outbox::smtp_reply.eq(None::<String>)))
        .execute(conn)?;
    Ok(erased > 0)
}

/// Every sample of a survey, oldest first.
pub fn ids_of_survey(conn: &mut DbConn, survey_id: &str) -> Result<Vec<i64>, StorageError> {
    Ok(samples::table.filter(samples::survey_id.eq(survey_id)).order(samples::id).select(samples::id).load(conn)?)
}

/// Erases the email addresses of up to `limit` of a sample's invitees,
/// with their hashes and link seeds, keeping each invitee's token row (the
/// strata weighting uses) and the opt-out list. Their messages not sent by
/// then are cancelled; mail server replies, which may quote an address, go
/// too. Goes on from `after` (by id); returns the last id erased (None
/// once none is left) and how many were.
pub fn erase_emails(
    conn: &mut DbConn,
    sample_id: i64,
    at: NaiveDateTime,
    after: i64,
    limit: i64,
) -> Result<(Option<i64>, usize), StorageError> {
    // By sample and id: the query walks the sample's index from `after`.
    let ids: Vec<i64> = invitees::table
        .filter(invitees::sample_id.eq(sample_id))
        .filter(invitees::id.gt(after))
        .filter(
            invitees::email
                .is_not_null()
                .or(invitees::email_key.is_not_null())
                .or(invitees::link_nonce.is_not_null())
                .or(invitees::address.is_not_null()),
        )
        .order(invitees::id)
        .limit(limit)
        .select(invitees::id)
        .load(conn)?;
    let Some(&last) = ids.last() else { return Ok((None, 0)) };
    let erased = diesel::update(invitees::table.filter(invitees::id.eq_any(&ids)))
        .set((
            invitees::email.eq(None::<String>),
            invitees::email_key.eq(None::<String>),
            invitees::link_nonce.eq(None::<String>),
            invitees::address.eq(None::<String>),
            invitees::postcode.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::update(outbox::table.filter(outbox::invitee_id.eq_any(&ids)).filter(outbox::status.eq(Status::Queued)))
        .set((outbox::status.eq(Status::Cancelled), outbox::finished_at.eq(at)))
        .execute(conn)?;
    diesel::update(outbox::table.filter(outbox::invitee_id.eq_any(&ids)))
        .set((outbox::error.eq(None::<String>), outbox::smtp_reply.eq(None::<String>)))
        .execute(conn)?;
    Ok((Some(last), erased))
}

/// Once the addresses of `erased` (sample ids) are gone: those samples are
/// marked erased, if complete (their file hashes go too), and anything of
/// the survey still queued is cancelled. A sample still being written, or
/// begun since, is left for the next run.
pub fn finish_erasing(
    conn: &mut DbConn,
    survey_id: &str,
    erased: &[i64],
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(outbox::table.filter(outbox::survey_id.eq(survey_id)).filter(outbox::status.eq(Status::Queued)))
        .set((outbox::status.eq(Status::Cancelled), outbox::finished_at.eq(at)))
        .execute(conn)?;
    diesel::update(
        samples::table
            .filter(samples::id.eq_any(erased))
            .filter(samples::complete.eq(true))
            .filter(samples::emails_erased_at.is_null()),
    )
    .set((samples::emails_erased_at.eq(at), samples::file_hash.eq(None::<String>)))
    .execute(conn)?;
    Ok(())
}
